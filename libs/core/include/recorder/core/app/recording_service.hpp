#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "recorder/core/domain/error.hpp"
#include "recorder/core/domain/recording.hpp"
#include "recorder/core/domain/rules.hpp"
#include "recorder/core/domain/state_machine.hpp"
#include "recorder/core/domain/storage_policy.hpp"
#include "recorder/core/ports/agent_channel.hpp"
#include "recorder/core/ports/capture_driver.hpp"
#include "recorder/core/ports/chunk_store.hpp"
#include "recorder/core/ports/cluster_store.hpp"
#include "recorder/core/ports/clock.hpp"
#include "recorder/core/ports/event_publisher.hpp"
#include "recorder/core/ports/id_generator.hpp"
#include "recorder/core/ports/media_finalizer.hpp"
#include "recorder/core/ports/operator_log.hpp"
#include "recorder/core/ports/outbox.hpp"
#include "recorder/core/ports/recording_repository.hpp"
#include "recorder/core/ports/scheduler.hpp"
#include "recorder/core/ports/service_observer.hpp"
#include "recorder/core/ports/storage_probe.hpp"

namespace recorder::core {

// The ports the service drives. All must outlive the service.
struct Ports {
  Clock& clock;
  Scheduler& scheduler;
  RecordingRepository& repository;
  OutboxStore& outbox;  // usually the same object as the repository
  ChunkStore& chunks;
  MediaFinalizer& finalizer;
  CaptureDriver& capture;
  AgentChannel& agents;
  StorageProbe& storage;
  EventPublisher& events;
  OperatorLog& log;
  IdGenerator& ids;
  // Several instances on one database (docs/adr/0017-cluster-leases.md): the leases this
  // instance holds. None: one instance, which holds every recording.
  LeaseGuard* leases = nullptr;
};

// How a stream start picks its recording id.
enum class StreamIds {
  exact,    // seed 001: the client's recordId; a live one is resumed, an ended one is Errc::id_taken
  session,  // seed 002: the session's first recording takes its id, later ones <id>-2, <id>-3, ...
};

struct StreamStart {
  RecordingId id;  // the client's recordId / session id; empty: the server assigns one
  std::string format;
  std::string mime_type;
  std::string owner;
  StreamLimits limits;
  StreamIds ids = StreamIds::exact;
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
  std::string session_id;  // the caller's own key (REST), kept with the recording
  std::vector<std::string> notify{};  // e-mailed when it is ready (seed 004)
};

struct AgentStart {
  std::string agent_id;
  std::string subject;
  std::string organizer;
  std::string start_time;
  std::optional<Seconds> expected_duration;
  std::string session_id;  // the caller's own key (REST), kept with the recording
  std::vector<std::string> notify{};  // e-mailed when it is ready, beside the organizer (seed 004)
};

// One of seed 000's agent messages, decoded. start_time as the agent sent it (any ISO 8601
// form): the service normalises it.
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
  std::string timestamp;                 // the message's own timestamp, as sent
  std::string status;                    // recording_status: status, elapsed, remaining
  std::optional<double> elapsed;
  std::optional<double> remaining;
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
// machine, saves the result with the notices it caused (one transaction), and then carries
// out the effects through the ports. See docs/adr/0009-concurrency-and-outbox.md.
//
// Threading: every method may be called from any thread. Work on one recording is
// serialised by that recording's own lock, which is held across its save, its chunk
// writes and its effects; no lock that spans recordings is held across any I/O (a small
// registry lock guards the map of live recordings and devices only). Calls for the same
// stream should still come in order (one connection strand per recording), since chunk
// indices are assigned in arrival order. Ports called with a recording's lock held
// (scheduler, capture, agents, finalizer, events) must queue and return, and never call
// back into the service before returning.
class RecordingService {
 public:
  RecordingService(Ports ports, Rules rules, StoragePolicy storage);
  ~RecordingService();
  RecordingService(const RecordingService&) = delete;
  RecordingService& operator=(const RecordingService&) = delete;

  // Stream kind (seeds 001 and 002). A start naming a live stream recording resumes it.
  [[nodiscard]] Result<StreamStarted> start_stream(const StreamStart& cmd);
  [[nodiscard]] Result<ChunkAck> receive_chunk(const RecordingId& id, std::optional<ChunkIndex> index,
                                               std::span<const std::byte> bytes);
  void stream_disconnected(const RecordingId& id);

  // Capture kind (seed 003): one live recording per device.
  [[nodiscard]] Result<Recording> start_capture(const CaptureStart& cmd);
  void on_capture_started(const RecordingId& id);
  void on_capture_start_failed(const RecordingId& id, const std::string& error);
  void on_segment_opened(const RecordingId& id, const std::string& path);
  void on_segment_closed(const RecordingId& id, const MediaFile& file);
  void on_capture_stopped(const RecordingId& id);
  void on_capture_failed(const RecordingId& id, const std::string& error);

  // Agent kind (seed 000). Recordings are found by organizer:subject:start_time; one the
  // server has not heard of is adopted, so that nothing an agent reports is dropped.
  [[nodiscard]] Result<Recording> start_agent_recording(const AgentStart& cmd);
  [[nodiscard]] Result<Recording> agent_start_confirmed(const AgentReport& report);
  [[nodiscard]] Result<Recording> agent_status(const AgentReport& report);
  [[nodiscard]] Result<Recording> agent_stop_confirmed(const AgentReport& report);
  [[nodiscard]] Result<Recording> agent_premature_stop(const AgentReport& report);
  // The agent's uploaded video (seed 000); the same again changes nothing.
  [[nodiscard]] Result<Recording> attach_video(const RecordingId& id, const UploadedVideo& video);
  // An external recorder says the uploaded video of a finished agent recording was lost
  // (seed 004's recording.failed): it ends failed with `error`, and an alert.
  [[nodiscard]] Result<Recording> fail_upload(const RecordingId& id, const std::string& error);
  // An agent connected or went away: agent.connected / agent.disconnected to the outbox.
  // A connected agent's recording that was stale is not revived by this (only a status is).
  void agent_presence(const std::string& agent_id, bool connected, const std::string& detail);

  // Any kind. Stop is idempotent: stopping a stopped recording returns it unchanged.
  [[nodiscard]] Result<Recording> stop(const RecordingId& id, StopReason reason = StopReason::manual);
  // Calls `done` once the recording no longer holds its device (it left the live states:
  // a capture's pipeline confirmed its stop, or the stop timeout passed), at once when it
  // already does not, or with the error when there is no such recording. `done` runs with
  // the recording's lock held: it must return at once and not call the service.
  void when_released(const RecordingId& id, std::function<void(Result<Recording>)> done);
  [[nodiscard]] Result<Recording> remove(const RecordingId& id);
  [[nodiscard]] Result<Recording> get(const RecordingId& id) const;
  std::vector<Recording> live() const;
  // The recording's transitions as the store logged them, oldest first.
  [[nodiscard]] Result<std::vector<RecordingEvent>> history(const RecordingId& id) const;
  // Recordings in the store, newest first (the admin surface's list).
  [[nodiscard]] Result<std::vector<Recording>> list(const RecordingQuery& q) const;
  // A recording by its id, else by a caller's session_id (the newest with it); not_found
  // names the key.
  [[nodiscard]] Result<Recording> resolve(const std::string& id_or_session) const;
  // The live recording on a device (or agent), if any.
  std::optional<Recording> live_on(const std::string& device) const;
  // How long the recording has run, by the core's clock: until now while live, else until
  // it stopped; 0 before it started.
  double elapsed_seconds(const Recording& r) const;
  const StoragePolicy& storage_policy() const { return storage_policy_; }

  // Called by the scheduler adapter when a deadline is due.
  void on_deadline(const RecordingId& id, DeadlineKind kind);

  // A query: measures the disk and says where it stands. Changes nothing, tells nobody.
  [[nodiscard]] Result<StorageStatus> storage_status() const;
  // The periodic command: measures the disk; on a change of level saves a storage notice
  // and an alert to the outbox; at block stops every running stream and capture with
  // reason storage_critical. With `announce` false (a cluster's followers, on the volume
  // the leader measures too) the level is followed and acted on, but told by the leader.
  [[nodiscard]] Result<StorageStatus> check_storage(bool announce = true);
  // Whether the store answers now (for readiness).
  [[nodiscard]] Result<void> store_reachable() const;

  // Start-up: takes up every recording the store holds unfinished. Streams become
  // resumable for a grace period with the ledger the chunk store verified, then are
  // finalized with what is durable; agents get a fresh stale window; captures start
  // again; finalize and processing run again. Call once, before serving clients.
  [[nodiscard]] Result<RecoveryReport> recover();
  // The same for recordings this instance has just claimed from the store (a takeover:
  // their owner died, or left them at its shutdown). Call any time.
  RecoveryReport adopt(std::vector<Recording> claimed);
  // Another instance holds the recording now (its lease was taken over): this instance
  // forgets it at once and writes nothing more of it, neither rows nor media. Its
  // deadlines are cancelled and a capture's pipeline here is stopped.
  void step_down(const RecordingId& id, const std::string& why);
  // The leases of the unfinished recordings this instance holds, as it holds them.
  std::vector<HeldLease> held_leases() const;
  // The recording as this instance holds it live now; std::nullopt when it does not.
  std::optional<Recording> held_here(const RecordingId& id) const { return snapshot(id); }

  // Writes what a failed save held back (database down): recordings with their event-log
  // lines and notices, and notices of no recording. Call periodically. Returns how many
  // recordings and notices are still unsaved.
  std::size_t flush();

  // Daemon shutdown: captures are stopped (reason shutdown); streams and agents stay live
  // in the store so that a restart resumes them.
  void shutdown();

  // Before serving: who is told of stored chunks and failed saves (metrics). None by default.
  void set_observer(ServiceObserver* observer) { observer_ = observer; }

 private:
  struct Slot;
  class Held;
  struct Unsaved;

  Now now() const;
  std::shared_ptr<Slot> acquire(const std::string& key);
  void release(const std::string& key);
  Result<Recording> load(Held& h, const RecordingId& id);
  Result<Recording> dispatch(Held& h, const RecordingId& id, const Event& e);
  // Applies `e` to `current` (the recording as loaded under `h`) and commits the step.
  Result<Recording> step(Held& h, const Recording& current, const Event& e);
  Result<Recording> commit(Held& h, const Recording& before, Step step, bool save);
  void run_effects(Held& h, const Recording& r, const std::vector<Effect>& effects);
  void drain(Held& h, const RecordingId& id);
  std::vector<NoticeBody> notices_of(const Recording& r, const std::vector<Effect>& effects);
  // Saves the recording with what earlier failed saves held back; returns the notices now
  // committed (to announce), or nothing when the save failed and all is held back.
  // Errc::lease_lost when another instance holds the recording: nothing was saved, and
  // the recording was stepped down from.
  Result<std::optional<std::vector<NoticeBody>>> persist(Held& h, const Recording& r,
                                                         std::optional<Transition> transition,
                                                         std::vector<NoticeBody> notices);
  void step_down(Held& h, const RecordingId& id, const std::string& why);
  // Takes up a recording loaded from the store (recovery, takeover) under its lock.
  Result<void> take_up(Held& h, Recording r);
  // With leases: the stored row of a live recording another instance holds; std::nullopt
  // when this instance holds it, or it is finished or unknown (or there are no leases).
  Result<std::optional<Recording>> held_elsewhere(Held& h, const RecordingId& id);
  // Takes a recording another instance holds: claimed when its lease expired, else
  // handed over by its holder on request. Then taken up here as recovery does.
  Result<void> bring_here(Held& h, const Recording& stored);
  // bring_here() for a recording held elsewhere; nothing otherwise.
  Result<void> follow(Held& h, const RecordingId& id);
  // Removes a recording from what readers see as live, and frees its device.
  void retire(Held& h, const Recording& r);
  // After a successful save: clears what was held back and returns its notices to announce.
  std::vector<NoticeBody> saved_now(Held& h, const RecordingId& id, bool was_unsaved);
  void announce(const std::vector<NoticeBody>& notices);
  // Saves notices of no recording (storage, alerts) with any held back before; on failure
  // holds them back for flush(). True when nothing is held back any more.
  bool raise(std::vector<NoticeBody> notices);
  // A background path failed: to the log at once, and to the outbox as an alert.
  void report(Severity severity, const std::string& message, std::optional<RecordingId> id = std::nullopt);
  void post(const RecordingId& id, Event e);
  Result<Recording> create(Held& h, NewRecording spec, bool start_producer);
  Result<StreamStarted> start_stream_as(const RecordingId& id, const StreamStart& cmd);
  Result<void> reserve_device(const std::string& device, const RecordingId& id);
  void release_device(const std::string& device, const RecordingId& id);
  Result<void> admit_storage(std::optional<Seconds> capture_duration) const;
  Result<StorageStatus> measure_storage() const;
  Result<Recording> agent_event(const AgentReport& report, const Event& e);
  void on_finalize_done(const RecordingId& id, Result<FinalizeResult> result, bool processing);
  std::optional<Recording> snapshot(const RecordingId& id) const;
  // Every live recording's latest state, taken under live_mutex_ only.
  std::vector<std::shared_ptr<const Recording>> live_snapshots() const;

  Ports ports_;
  ServiceObserver* observer_ = nullptr;
  Rules rules_;
  StoragePolicy storage_policy_;

  // The registry: never held across I/O, never held while waiting for a recording's lock.
  // Commands (every chunk among them) take it to find their slot; readers never do.
  struct Entry {
    std::shared_ptr<Slot> slot;
    std::size_t users = 0;
    bool unsaved = false;  // a save failed; flush() retries it
    bool live = false;     // in live_: the slot stays while the recording is live
  };
  mutable std::mutex registry_mutex_;
  std::unordered_map<std::string, Entry> slots_;  // in use, live or unsaved

  // What readers (REST, RPC status, metrics) see of live recordings. A live recording's
  // latest state is published into its cell, which its slot holds too: a chunk replaces the
  // cell's snapshot without any lock that a reader takes, so a reader that is descheduled
  // while it holds live_mutex_ (HTTP threads run at a lower priority) never stalls a chunk.
  // live_mutex_ is taken by writers only when a recording becomes live or terminal, or a
  // device is reserved or released. Never held together with registry_mutex_.
  struct LiveCell;
  mutable std::mutex live_mutex_;
  std::unordered_map<RecordingId, std::shared_ptr<LiveCell>> live_;  // every recording not yet terminal
  std::map<std::string, RecordingId> devices_;                       // device -> its live recording
  std::unordered_map<std::string, RecordingId> agent_keys_;          // agent_key -> its live recording
  // Publishes `r` (a live recording's state) for readers, or retires it once terminal.
  void publish(Held& h, std::shared_ptr<const Recording> snap);

  std::mutex storage_mutex_;  // the level last announced; held across the periodic check only
  StorageLevel storage_level_ = StorageLevel::normal;
  bool storage_failing_ = false;

  std::mutex pending_mutex_;  // notices of no recording that could not be saved yet; never held across I/O
  std::vector<NoticeBody> pending_;
};

}  // namespace recorder::core
