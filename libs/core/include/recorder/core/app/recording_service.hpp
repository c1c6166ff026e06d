#pragma once

#include <cstddef>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "recorder/core/domain/error.hpp"
#include "recorder/core/domain/recording.hpp"
#include "recorder/core/domain/rules.hpp"
#include "recorder/core/domain/state_machine.hpp"
#include "recorder/core/domain/storage_policy.hpp"
#include "recorder/core/ports/agent_channel.hpp"
#include "recorder/core/ports/alert_sink.hpp"
#include "recorder/core/ports/capture_driver.hpp"
#include "recorder/core/ports/chunk_store.hpp"
#include "recorder/core/ports/clock.hpp"
#include "recorder/core/ports/event_publisher.hpp"
#include "recorder/core/ports/id_generator.hpp"
#include "recorder/core/ports/media_finalizer.hpp"
#include "recorder/core/ports/recording_repository.hpp"
#include "recorder/core/ports/scheduler.hpp"
#include "recorder/core/ports/storage_probe.hpp"

namespace recorder::core {

// The ports the service drives. All must outlive the service.
struct Ports {
  Clock& clock;
  Scheduler& scheduler;
  RecordingRepository& repository;
  ChunkStore& chunks;
  MediaFinalizer& finalizer;
  CaptureDriver& capture;
  AgentChannel& agents;
  StorageProbe& storage;
  AlertSink& alerts;
  EventPublisher& events;
  IdGenerator& ids;
};

struct StreamStart {
  RecordingId id;  // the client's recordId / session id; empty: the server assigns one
  std::string format;
  std::string mime_type;
  std::string owner;
  StreamLimits limits;
};

struct StreamStarted {
  Recording recording;
  bool resumed = false;
  ChunkIndex next_index = 0;
  std::vector<ChunkIndex> missing;
};

struct ChunkAck {
  RecordingId id;
  ChunkIndex index;
  std::uint64_t bytes;
  bool duplicate;  // already stored: acknowledged again, not written twice
};

struct CaptureStart {
  std::string device;
  std::string format;
  std::optional<Seconds> duration;
  std::string owner;
};

struct AgentStart {
  std::string agent_id;
  std::string subject;
  std::string organizer;
  std::string start_time;
  std::optional<Seconds> expected_duration;
};

// One of seed 000's agent messages, decoded.
struct AgentReport {
  std::string agent_id;
  std::string subject;
  std::string organizer;
  std::string start_time;
  std::optional<double> duration_actual;
  std::optional<Seconds> duration_expected;
  StopReason reason = StopReason::none;  // parsed from the agent's reason, when it is one
  std::string reason_text;               // the agent's own words
  bool success = true;                   // stop_confirmed's status
};

// What recover() found in the store at start-up.
struct RecoveryReport {
  std::size_t recovered = 0;             // unfinished recordings taken up again
  std::vector<Error> failed;             // recordings left as they are, and why
};

struct StorageStatus {
  StorageInfo info;
  StorageLevel level;
  double used_percent;
};

// The application service: takes commands from the adapters, runs them through the state
// machine, persists the result and carries out the effects through the ports.
//
// Threading: every method may be called from any thread; one mutex serialises them. Chunk
// bytes are written without holding it, so recordings write in parallel; calls for the
// same recording must come in order (one connection strand per recording). Ports called
// under the lock (scheduler, alerts, events, agents, capture, finalizer) must queue and
// return, and never call back into the service before returning.
class RecordingService {
 public:
  RecordingService(Ports ports, Rules rules, StoragePolicy storage);

  // Stream kind (seeds 001 and 002). A start naming a live stream recording resumes it.
  Result<StreamStarted> start_stream(const StreamStart& cmd);
  Result<ChunkAck> receive_chunk(const RecordingId& id, std::optional<ChunkIndex> index,
                                 std::span<const std::byte> bytes);
  void stream_disconnected(const RecordingId& id);

  // Capture kind (seed 003): one live recording per device.
  Result<Recording> start_capture(const CaptureStart& cmd);
  void on_capture_started(const RecordingId& id);
  void on_capture_start_failed(const RecordingId& id, const std::string& error);
  void on_segment_closed(const RecordingId& id, const MediaFile& file);
  void on_capture_stopped(const RecordingId& id);
  void on_capture_failed(const RecordingId& id, const std::string& error);

  // Agent kind (seed 000). Recordings are found by organizer:subject:start_time; one the
  // server has not heard of is adopted, so that nothing an agent reports is dropped.
  Result<Recording> start_agent_recording(const AgentStart& cmd);
  Result<Recording> agent_start_confirmed(const AgentReport& report);
  Result<Recording> agent_status(const AgentReport& report);
  Result<Recording> agent_stop_confirmed(const AgentReport& report);
  Result<Recording> agent_premature_stop(const AgentReport& report);

  // Any kind. Stop is idempotent: stopping a stopped recording returns it unchanged.
  Result<Recording> stop(const RecordingId& id, StopReason reason = StopReason::manual);
  Result<Recording> remove(const RecordingId& id);
  Result<Recording> get(const RecordingId& id);
  std::vector<Recording> live() const;
  // Recordings in the store, newest first (the admin surface's list).
  Result<std::vector<Recording>> list(const RecordingQuery& q);
  // The live recording on a device (or agent), if any.
  std::optional<Recording> live_on(const std::string& device);
  const StoragePolicy& storage_policy() const { return storage_policy_; }

  // Called by the scheduler adapter when a deadline is due.
  void on_deadline(const RecordingId& id, DeadlineKind kind);

  // Measures the disk; on a change of level alerts and publishes; at block stops every
  // running recording with reason storage_critical.
  Result<StorageStatus> check_storage();

  // Start-up: takes up every recording the store holds unfinished. Streams become
  // resumable for a grace period with the ledger the chunk store verified, then are
  // finalized with what is durable; agents get a fresh stale window; captures start
  // again; finalize and processing run again. Call once, before serving clients.
  Result<RecoveryReport> recover();

  // Writes recordings whose last save failed (database down); call periodically.
  // Returns how many are still unsaved.
  std::size_t flush();

  // Daemon shutdown: captures are stopped (reason shutdown); streams and agents stay live
  // in the store so that a restart resumes them.
  void shutdown();

 private:
  using Lock = std::unique_lock<std::mutex>;

  Now now() const;
  Result<Recording> dispatch(Lock& lock, const RecordingId& id, const Event& e);
  Result<Recording> commit(Lock& lock, const Recording& before, Step step, bool persist);
  void run_effects(Lock& lock, const Recording& r, const std::vector<Effect>& effects);
  void drain(Lock& lock);
  Result<void> persist(const Recording& r, std::optional<Transition> transition);
  // Saves a new recording in `starting`; a capture or remote agent recording also starts
  // its producer (first attempt) under the start timeout.
  Result<Recording> create(Lock& lock, NewRecording spec, bool start_producer);
  Result<void> admit_new(const std::string& device, std::optional<Seconds> capture_duration = std::nullopt);
  Result<StorageStatus> measure_storage();
  Recording* find_live(const RecordingId& id);
  Result<Recording> find_any(const RecordingId& id);
  Result<Recording> agent_event(Lock& lock, const AgentReport& report, const Event& e);
  void on_finalize_done(const RecordingId& id, Result<FinalizeResult> result, bool processing);
  void post(const RecordingId& id, Event e);

  Ports ports_;
  Rules rules_;
  StoragePolicy storage_policy_;
  mutable std::mutex mutex_;
  std::unordered_map<RecordingId, Recording> live_;  // every recording not yet terminal
  std::map<std::string, RecordingId> devices_;         // device -> its live recording
  struct Unsaved {
    Recording snapshot;
    std::vector<RecordingEvent> events;
  };
  std::unordered_map<RecordingId, Unsaved> unsaved_;  // written by the next save or flush()
  std::deque<std::pair<RecordingId, Event>> queue_;  // events raised while carrying out effects
  bool draining_ = false;
  StorageLevel storage_level_ = StorageLevel::normal;
};

}  // namespace recorder::core
