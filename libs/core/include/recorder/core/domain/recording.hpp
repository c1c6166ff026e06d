#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "recorder/core/domain/chunk_ledger.hpp"
#include "recorder/core/domain/error.hpp"
#include "recorder/core/domain/types.hpp"

namespace recorder::core {

// Who produces the media; see docs/architecture.md.
enum class SourceKind { stream, agent, capture };

// The lifecycle shared by all source kinds. The transition table in docs/architecture.md
// and domain/state_machine.hpp lists every allowed move.
enum class State {
  starting,     // start requested, the producer has not confirmed yet (capture, remote agent)
  recording,    // media is flowing
  interrupted,  // stream: the client's connection dropped; waiting for it within grace
  stale,        // agent: no status report for the stale threshold; a report revives it
  stopping,     // stop decided; waiting for the producer to confirm (agent, capture)
  finalizing,   // closing and merging what was recorded
  processing,   // the original is final; a conversion or remux runs
  ready,        // terminal: files are available
  failed,       // terminal: something went wrong; everything accepted is kept
  deleted,      // terminal: an admin deleted it
};

// Why a recording stopped. The first five are seed 000's; the rest are the server's own.
enum class StopReason {
  none,
  completed,         // the producer reached the expected end
  manual,            // a person or client asked to stop
  premature,         // the producer reported an early stop
  error,             // the producer or a pipeline failed
  automatic_limit,   // a duration limit (the hard limit or the dialect's) was reached
  size_limit,        // the dialect's total size limit was reached
  disconnect,        // a stream client vanished and did not come back within grace
  stale,             // an agent stopped reporting and did not answer a stop
  storage_critical,  // the disk reached the block threshold
  shutdown,          // the daemon stopped a capture while shutting down
};

// Seed 000's status column: how a recording ended, as a person would classify it.
enum class Outcome { recording, completed, failed, stopped_premature, stopped_early };

std::string_view to_string(SourceKind v);
std::string_view to_string(State v);
std::string_view to_string(StopReason v);
std::string_view to_string(Outcome v);
std::optional<SourceKind> parse_source_kind(std::string_view s);
std::optional<State> parse_state(std::string_view s);
std::optional<StopReason> parse_stop_reason(std::string_view s);
std::optional<Outcome> parse_outcome(std::string_view s);

bool is_terminal(State s);
// Live: the recording holds its device and may still receive media or reports.
bool is_live(State s);

struct Metadata {
  std::string subject;
  std::string organizer;
  std::string owner;
  std::string device;     // capture device or agent room; one live recording per device
  std::string agent_id;   // agent kind: which agent records it
  std::string start_time; // agent kind: the meeting's start_time, normalised (normalize_start_time)
  std::string mime_type;  // stream kind: what the client sends (video/webm, ...)
  std::string session_id; // the caller's own key for it (REST "session_id", seed 004); may be empty
  std::vector<std::string> notify{};  // addresses told when it is ready (seed 004), beside the organizer

  bool operator==(const Metadata&) const = default;
};

// Whether `text` is a plain e-mail address (local@domain, no spaces, brackets or
// separators): what a notify list and alerts.admin_emails take.
bool is_email_address(std::string_view text);

// seed 000's recording key: organizer:subject:start_time
std::string agent_key(const Metadata& m);

// An agent's start_time as the key holds it: ISO 8601 with or without an offset (naive is
// UTC) becomes UTC, "2025-10-30T15:00:00Z" (with the fraction of a second when it has one),
// so that "…T15:00:00", "…T15:00:00Z" and "…T17:00:00+02:00" are one meeting.
// Errc::invalid_argument naming what was expected.
Result<std::string> normalize_start_time(std::string_view text);

// What an agent said last in its recording_status (seed 000), and its own clock.
struct AgentReportState {
  std::string status;                // "recording", ... as the agent words it
  std::optional<double> elapsed;     // seconds
  std::optional<double> remaining;   // seconds
  std::string timestamp;             // the agent's timestamp of its last message, as sent

  bool operator==(const AgentReportState&) const = default;
};

// The agent's finished video, uploaded elsewhere (seed 000's video_url, file_size).
struct UploadedVideo {
  std::string url;
  std::optional<std::uint64_t> file_size;

  bool operator==(const UploadedVideo&) const = default;
};

// A recording id as a file or directory name that cannot leave its parent: the id itself
// when it is made of [A-Za-z0-9._-] and does not start with '.', else '%' and its bytes in
// hex (cut at 120 bytes, with a checksum of the rest).
std::string file_safe_id(const RecordingId& id);

// The longest recording id a client may choose (UUIDs and seed 001's ids are far shorter).
inline constexpr std::size_t kMaxRecordingIdBytes = 200;
// A client's recording id: 1 to kMaxRecordingIdBytes bytes, no control characters.
// Errc::invalid_argument naming what is wrong.
Result<void> check_recording_id(std::string_view id);

enum class FileRole { original, converted, segment };
std::string_view to_string(FileRole v);

struct MediaFile {
  std::string path;  // relative to the data directory
  FileRole role = FileRole::original;
  std::uint64_t bytes = 0;
  std::optional<double> duration_seconds;

  bool operator==(const MediaFile&) const = default;
};

// Limits of one stream dialect (seed 002: 1 h, 1 MiB per chunk, 500 MiB in all).
struct StreamLimits {
  Seconds max_duration{3600};
  std::uint64_t max_chunk_bytes = 1024 * 1024;
  std::uint64_t max_total_bytes = 500ull * 1024 * 1024;
  // A chunk index more than this far past the ledger's next index is refused, so that a
  // bogus index cannot make the missing list enormous.
  std::uint64_t max_index_gap = 100000;

  bool operator==(const StreamLimits&) const = default;
};

// Monotonic anchors for deadlines. Not persisted: recovery derives them from wall times.
struct Timing {
  MonoTime started{};
  MonoTime last_activity{};
  MonoTime interrupted{};

  bool operator==(const Timing&) const = default;
};

// Who holds a recording's lease, and under which epoch (see Recording::lease).
struct LeaseHolder {
  std::string instance;
  std::uint64_t epoch = 0;

  bool operator==(const LeaseHolder&) const = default;
};

// The aggregate. Every change goes through the state machine (domain/state_machine.hpp).
struct Recording {
  RecordingId id;
  SourceKind kind = SourceKind::stream;
  Metadata meta;
  std::string format;                  // requested output: "" (keep as sent), "wav", "mp4", "webm"
  std::optional<Seconds> expected_duration;
  bool remote_triggered = false;       // agent kind: started by a command from recorderd
  StreamLimits limits;

  State state = State::starting;
  StopReason stop_reason = StopReason::none;
  Outcome outcome = Outcome::recording;

  WallTime created_at{};
  std::optional<WallTime> started_at;
  std::optional<WallTime> last_activity_at;
  std::optional<WallTime> stopped_at;
  std::optional<WallTime> finalized_at;
  Timing timing;

  ChunkLedger ledger;
  std::vector<ChunkIndex> missing_chunks;  // fixed when the recording stops
  std::vector<MediaFile> files;
  std::string current_file;                // capture: the segment being written now (seed 003)
  std::optional<double> duration_seconds;  // actual duration: reported, probed, or measured
  std::uint32_t start_attempts = 0;
  std::string error;                       // the last error, in words
  AgentReportState agent;                  // agent kind: its last report (kept in memory between transitions)
  UploadedVideo video;                     // agent kind: the uploaded video, once attached
  // Rises by one with every change the service commits (a chunk, a report, a transition),
  // and is saved with the recording: of two copies of a recording, the one with the higher
  // revision is the newer (the dashboard orders live state and outbox notices by it).
  std::uint64_t revision = 0;
  // Which recorderd instance holds the recording while it is unfinished, and the lease's
  // epoch, which rises each time another instance takes it over. A save under an older
  // epoch, or by another instance, is refused by the store (Errc::lease_lost): an
  // instance that lost a recording cannot write over the one that took it
  // (docs/adr/0017-cluster-leases.md). Empty on a single instance (SQLite).
  LeaseHolder lease;

  bool operator==(const Recording&) const = default;
};

// How many closed capture segments a recording holds.
std::size_t segment_count(const Recording& r);

// The file a recording's link opens: the converted one, else the original, else its first
// segment; none when it has no file.
const MediaFile* main_file(const Recording& r);

}  // namespace recorder::core
