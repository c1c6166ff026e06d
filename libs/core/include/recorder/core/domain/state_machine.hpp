#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "recorder/core/domain/error.hpp"
#include "recorder/core/domain/recording.hpp"
#include "recorder/core/domain/rules.hpp"

namespace recorder::core {

enum class DeadlineKind {
  limit,          // the hard limit or the dialect's duration limit
  scheduled_end,  // a capture's requested duration
  grace,          // a dropped stream client may come back until then
  stale,          // an agent must report before then
  start_timeout,  // a producer must confirm its start before then
  retry,          // the next start attempt
  stop_timeout,   // a producer must confirm its stop before then
  rotation,       // a capture closes its segment and opens the next
};
std::string_view to_string(DeadlineKind k);

// Inputs of the state machine. Each names something that happened.
namespace ev {
struct Started {                                    // the producer runs (stream: at once)
  std::string agent_timestamp;                      // agent: start_confirmed's own timestamp
};
struct StartFailed { std::string error; };
struct ChunkStored { ChunkIndex index; std::uint64_t bytes; };  // durable
struct StopRequested { StopReason reason = StopReason::manual; };
struct Disconnected {};                             // a stream client's connection dropped
struct Resumed {};                                  // a stream client is back
struct StatusReported {                             // agent: recording_status
  AgentReportState report;                          // status, elapsed, remaining, the agent's timestamp
};
struct StopConfirmed {                              // agent: stop_confirmed; capture: EOS done
  bool success = true;
  StopReason reason = StopReason::none;             // none: keep the recording's own
  std::optional<double> duration_actual;
  std::optional<Seconds> duration_expected;
  std::string agent_timestamp;
};
struct PrematureStopReported {                      // agent: recording_stopped_premature
  StopReason reason = StopReason::premature;
  std::optional<double> duration_actual;
  std::optional<Seconds> duration_expected;
  std::string detail;                               // the agent's own words
  std::string agent_timestamp;
};
// agent: its uploaded video (POST /api/recordings/{id}/video); the same again changes nothing
struct VideoAttached { UploadedVideo video; };
struct UploadFailed { std::string error; };  // an external recorder: the video of a finished recording was lost
struct SegmentOpened { std::string path; };          // capture: a new segment file is being written
struct SegmentClosed { MediaFile file; };
struct ProducerFailed { std::string error; };       // capture pipeline error while recording
struct Finalized {
  std::vector<MediaFile> files;
  std::optional<double> duration_seconds;
  bool needs_processing = false;                    // a conversion or remux follows
};
struct FinalizeFailed { std::string error; };
struct Processed { std::vector<MediaFile> files; std::optional<double> duration_seconds; };
struct ProcessingFailed { std::string error; };
struct DeadlineReached { DeadlineKind kind; };
struct DeleteRequested {};
// recorderd restarted; the recording was unfinished in the store. For streams, `ledger` is
// what the chunk store verified (the truth for bytes).
struct Recovered { std::optional<ChunkLedger> ledger; };
}  // namespace ev

using Event = std::variant<ev::Started, ev::StartFailed, ev::ChunkStored, ev::StopRequested,
                           ev::Disconnected, ev::Resumed, ev::StatusReported, ev::StopConfirmed,
                           ev::PrematureStopReported, ev::SegmentOpened, ev::SegmentClosed,
                           ev::ProducerFailed,
                           ev::Finalized, ev::FinalizeFailed, ev::Processed,
                           ev::ProcessingFailed, ev::DeadlineReached, ev::DeleteRequested,
                           ev::Recovered, ev::VideoAttached, ev::UploadFailed>;

// The event's name as the transition table and the event log spell it.
std::string event_name(const Event& e);

enum class Severity { info, warning, critical };
std::string_view to_string(Severity s);

// What the outside world is told; mapped to webhooks, the dashboard and dialect replies.
enum class Notice {
  started, resumed, interrupted, stale, revived, stopping, stopped, segment_closed,
  processing, ready, failed, deleted,
};
std::string_view to_string(Notice n);  // "recording.started", ...

enum class AgentCommandKind { start_recording, stop_recording };

// Outputs: what the application service must carry out through the ports.
namespace fx {
struct ArmDeadline { DeadlineKind kind; MonoTime at; };
struct CancelDeadline { DeadlineKind kind; };
struct StartProducer {};              // capture: start the pipeline; agent: command it
struct StopProducer {};               // capture: send EOS; agent: command it to stop
struct RotateSegment {};
struct Finalize {};
struct Process {};
struct DeleteMedia {};
struct Alert { Severity severity; std::string message; };
struct Publish { Notice notice; };
}  // namespace fx

using Effect = std::variant<fx::ArmDeadline, fx::CancelDeadline, fx::StartProducer,
                            fx::StopProducer, fx::RotateSegment, fx::Finalize, fx::Process,
                            fx::DeleteMedia, fx::Alert, fx::Publish>;

// One line of a recording's event log.
struct Transition {
  State from;
  State to;
  std::string event;   // event_name()
  StopReason reason;   // the recording's stop reason after the step
  std::string detail;  // words for the log: the error, the agent's reason, ...
};

struct Step {
  Recording recording;
  std::vector<Effect> effects;
  std::optional<Transition> transition;  // set when the state changed
};

// The current time, both faces.
struct Now {
  MonoTime mono;
  WallTime wall;
};

// The state machine: a pure function. An event that does not apply in the recording's
// state is an Errc::invalid_state error and changes nothing; an event that repeats what
// already happened (a second stop, a late deadline) is a step with no effects.
Result<Step> apply(const Recording& r, const Event& e, const Rules& rules, Now now);

// Seed 000's classification of how a recording ended.
Outcome classify(StopReason reason, std::optional<Seconds> expected, std::optional<double> actual,
                 Seconds premature_threshold);

// A row of the transition table in docs/architecture.md: a move of the state machine.
struct TransitionRow {
  State from;
  std::string_view event;
  std::string_view guard;  // "" when the event alone decides
  State to;
};
std::span<const TransitionRow> transition_table();
// The table as Markdown rows; docs/architecture.md holds exactly this.
std::string transition_table_markdown();

// Creates a recording in `starting`; the service applies ev::Started for streams at once.
struct NewRecording {
  RecordingId id;
  SourceKind kind = SourceKind::stream;
  Metadata meta;
  std::string format;
  std::optional<Seconds> expected_duration;
  bool remote_triggered = false;
  StreamLimits limits;
};
Recording make_recording(NewRecording spec, Now now);

// Whether a stream chunk may be stored, and under which index. A duplicate is admitted
// (the caller acks it again without writing it twice).
struct ChunkAdmission {
  ChunkIndex index;
  bool duplicate;
};
Result<ChunkAdmission> admit_chunk(const Recording& r, std::optional<ChunkIndex> index,
                                   std::uint64_t bytes, const Rules& rules, Now now);

// When the recording must stop at the latest: the hard limit, or the stream's own limit.
MonoTime limit_deadline(const Recording& r, const Rules& rules);

}  // namespace recorder::core
