#pragma once

// Fakes of every core port, for the core's unit tests. They never sleep and never start
// threads: time moves only when a test says so.

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "recorder/core/app/outbox_dispatcher.hpp"
#include "recorder/core/app/recording_service.hpp"
#include "recorder/core/ports/hook_receipts.hpp"
#include "recorder/core/ports/secrets.hpp"
#include "recorder/core/ports/token_store.hpp"

namespace recorder::testing {

using namespace recorder::core;

class FakeClock final : public Clock {
 public:
  FakeClock();
  // Port
  MonoTime monotonic_now() const override { return mono_; }
  WallTime wall_now() const override { return wall_; }

  void advance(Duration d) {
    mono_ += d;
    wall_ += d;
  }
  void set_mono(MonoTime t) {
    wall_ += std::chrono::duration_cast<WallTime::duration>(t - mono_);
    mono_ = t;
  }

 private:
  MonoTime mono_;
  WallTime wall_;
};

class FakeScheduler final : public Scheduler {
 public:
  // Port
  void arm(const RecordingId& id, DeadlineKind kind, MonoTime at) override;
  void cancel(const RecordingId& id, DeadlineKind kind) override;
  void cancel_all(const RecordingId& id) override;

  std::optional<MonoTime> deadline(const RecordingId& id, DeadlineKind kind) const;
  bool armed(const RecordingId& id, DeadlineKind kind) const { return deadline(id, kind).has_value(); }
  std::size_t size() const;

  // Moves the clock forward by `d`, firing every deadline that falls due on the way, in
  // order, each at its own time. Returns how many fired.
  std::size_t run_for(FakeClock& clock, RecordingService& service, Duration d);

 private:
  std::map<std::pair<RecordingId, DeadlineKind>, MonoTime> deadlines_;
  mutable std::mutex mutex_;  // ports are called from any thread
};

// The recordings, their event log and the outbox in memory, like one SQL database.
class FakeRepository final : public RecordingRepository, public OutboxStore, public HookReceipts {
 public:
  // Port
  Result<void> save(const Recording& r, std::span<const RecordingEvent> events,
                    std::span<const NoticeBody> notices) override;
  Result<std::optional<Recording>> find(const RecordingId& id) override;
  Result<std::optional<Recording>> find_by_agent_key(const std::string& key) override;
  Result<std::vector<Recording>> find_unfinished() override;
  Result<std::vector<Recording>> list(const RecordingQuery& q) override;
  Result<std::vector<RecordingEvent>> events(const RecordingId& id) override;
  Result<void> ping() override;
  Result<void> append(std::span<const NoticeBody> notices) override;
  Result<void> add_subscriber(std::string_view subscriber) override;
  Result<std::vector<OutboxEntry>> undelivered(std::string_view subscriber, std::size_t limit) override;
  Result<void> mark_delivered(std::string_view subscriber, std::span<const std::uint64_t> seqs) override;
  Result<std::uint64_t> pending(std::string_view subscriber) override;
  Result<std::vector<OutboxEntry>> latest(std::string_view type_prefix, std::size_t limit) override;
  Result<bool> hook_taken(const std::string& webhook_id) override;
  Result<void> take_hook(const std::string& webhook_id, const std::string& type, const std::string& recording_id,
                         WallTime at) override;

  std::set<std::string> hooks_taken;

  // The outbox's notices of one type ("recording.ready", "alert.critical", ...).
  std::size_t count_notices(std::string_view type) const;

  bool down = false;  // every call fails with Errc::unavailable
  std::set<RecordingId> fenced;  // their saves fail with Errc::lease_lost (another instance holds them)
  std::set<std::string> devices_elsewhere;  // a new capture on one fails with Errc::device_busy
  // Called at the start of every save, outside any lock of the fake: a test can block one
  // recording's save here to show that others go on.
  std::function<void(const Recording&)> before_save;
  std::size_t saves = 0;
  std::map<RecordingId, Recording> rows;
  std::vector<RecordingEvent> log;
  std::vector<OutboxEntry> outbox;
  std::map<std::string, std::uint64_t, std::less<>> subscribers;  // name -> first seq it is handed
  std::set<std::pair<std::string, std::uint64_t>> delivered;

 private:
  void put_notices(std::span<const NoticeBody> notices);
  mutable std::recursive_mutex mutex_;  // the port is called from any thread
};

class FakeChunkStore final : public ChunkStore {
 public:
  // Port
  Result<void> put(const RecordingId& id, ChunkIndex index, std::span<const std::byte> bytes) override;
  Result<ChunkLedger> scan(const RecordingId& id) override;
  Result<void> remove(const RecordingId& id) override;
  void forget(const RecordingId& id) override;

  std::optional<Errc> fail_with;  // storage_full or io_error: the next puts fail
  std::vector<RecordingId> forgotten;
  bool fail_scan = false;
  std::size_t puts = 0;
  std::map<std::pair<RecordingId, ChunkIndex>, std::vector<std::byte>> chunks;
  std::string concatenated(const RecordingId& id) const;

 private:
  std::mutex mutex_;
};

class FakeFinalizer final : public MediaFinalizer {
 public:
  struct Job {
    RecordingId id;
    bool processing;
    Done done;
  };
  // Port
  void finalize(const Recording& r, Done done) override;
  void process(const Recording& r, Done done) override;
  Result<void> remove(const Recording& r) override;

  // Completes the oldest pending job for `id` with `result`; false when there is none.
  bool complete(const RecordingId& id, Result<FinalizeResult> result);
  std::size_t pending(const RecordingId& id, bool processing) const;

  std::vector<Job> jobs;
  std::vector<RecordingId> removed;

 private:
  mutable std::mutex mutex_;
};

class FakeCaptureDriver final : public CaptureDriver {
 public:
  // Port
  void start(const Recording& r) override { starts.push_back(r.id); }
  void stop(const RecordingId& id) override { stops.push_back(id); }
  void rotate(const RecordingId& id) override { rotations.push_back(id); }

  std::vector<RecordingId> starts, stops, rotations;
};

class FakeAgentChannel final : public AgentChannel {
 public:
  struct Sent {
    RecordingId id;
    AgentCommandKind command;
    StopReason reason;
  };
  // Port
  Result<void> send(const Recording& r, AgentCommandKind command) override;
  bool connected(const std::string&) const override { return online; }

  bool online = true;
  std::vector<Sent> sent;
};

class FakeStorageProbe final : public StorageProbe {
 public:
  // Port
  Result<StorageInfo> probe() const override;

  void set_used_percent(double percent);
  bool broken = false;
  StorageInfo info{1000, 1000};
};

// The alerts announced so far.
struct AlertLog {
  std::size_t count(Severity s) const;
  bool any_containing(std::string_view text) const;
  std::vector<Alert> alerts;
};

// What the service announced after each commit, by kind.
class FakeEventPublisher final : public EventPublisher {
 public:
  // Port
  void publish(const NoticeBody& n) override;

  std::vector<Notice> for_recording(const RecordingId& id) const;
  std::vector<RecordingNotice> notices;
  std::vector<StorageNotice> storage;
  std::vector<AgentNotice> agents;
  AlertLog alerts;

 private:
  std::mutex mutex_;  // the port is called from any thread
};

class FakeOperatorLog final : public OperatorLog {
 public:
  // Port
  void write(Severity severity, std::string_view message) override {
    std::lock_guard lock(mutex_);
    lines.emplace_back(severity, message);
  }
  std::size_t count(Severity s) const;
  bool any_containing(std::string_view text) const;
  std::vector<std::pair<Severity, std::string>> lines;

 private:
  std::mutex mutex_;
};

// A subscriber that keeps what it was handed and fails while told to.
class FakeSubscriber final : public NoticeSubscriber {
 public:
  explicit FakeSubscriber(std::string name) : name_(std::move(name)) {}
  // Port
  std::string_view name() const override { return name_; }
  Result<void> deliver(const OutboxEntry& entry) override;

  bool failing = false;
  std::vector<OutboxEntry> received;
  // Called as each notice is taken (to advance a clock, or look at the store meanwhile).
  std::function<void(const OutboxEntry&)> on_deliver;

 private:
  std::string name_;
};

class SequentialIds final : public IdGenerator {
 public:
  // Port
  std::string next() override { return "id-" + std::to_string(++n_); }

 private:
  std::atomic<int> n_ = 0;  // any thread, as the port says
};

// Every fake, wired into one RecordingService.
// API tokens in memory, like the store's table.
struct MemoryTokens final : TokenStore {
  std::map<std::string, StoredToken> rows;
  bool down = false;
  int touches = 0;
  Result<void> add_token(const StoredToken& t) override {
    if (down) return fail(Errc::unavailable, "database is down");
    if (!rows.emplace(t.token.id, t).second) return fail(Errc::invalid_argument, "id taken");
    return ok();
  }
  Result<std::optional<StoredToken>> find_token(const std::string& id) override {
    if (down) return fail(Errc::unavailable, "database is down");
    auto it = rows.find(id);
    return it == rows.end() ? std::optional<StoredToken>{} : std::optional{it->second};
  }
  Result<std::vector<ApiToken>> tokens() override {
    if (down) return fail(Errc::unavailable, "database is down");
    std::vector<ApiToken> out;
    for (const auto& [id, t] : rows) out.push_back(t.token);
    return out;
  }
  Result<bool> revoke_token(const std::string& id, WallTime at) override {
    auto it = rows.find(id);
    if (it == rows.end() || it->second.token.revoked_at) return false;
    it->second.token.revoked_at = at;
    return true;
  }
  Result<void> touch_token(const std::string& id, WallTime at) override {
    ++touches;
    rows.at(id).token.last_used_at = at;
    return ok();
  }
};

// Deterministic "randomness" (a counter) and a readable "hash": the service's logic, not
// OpenSSL's, is under test here (the crypto adapter has its own test).
struct CountingSecrets final : Secrets {
  int n = 0;
  std::string random_base64url(std::size_t bytes) override {
    const std::size_t chars = (bytes * 8 + 5) / 6;
    std::string s = std::to_string(++n);
    return std::string(chars - s.size(), leading_dash ? '-' : 'A') + s;
  }
  bool leading_dash = false;  // what OpenSSL gives one time in 64
  std::string hash(std::string_view secret) const override { return "h(" + std::string(secret) + ")"; }
  bool equal(std::string_view a, std::string_view b) const override { return a == b; }
};

struct Harness {
  explicit Harness(Rules rules = {}, StoragePolicy storage = {});

  // Advances fake time by `d`, firing due deadlines in order.
  std::size_t run_for(Duration d) { return scheduler.run_for(clock, service, d); }
  Recording get(const RecordingId& id);
  // Completes the pending finalize (or processing) job of `id` successfully.
  void finalize_ok(const RecordingId& id, bool needs_processing = false);
  // A new process over the same store and chunks, `downtime` later: what survives a crash.
  std::unique_ptr<Harness> restarted(Duration downtime) const;

  FakeClock clock;
  FakeScheduler scheduler;
  FakeRepository repository;
  FakeChunkStore chunks;
  FakeFinalizer finalizer;
  FakeCaptureDriver capture;
  FakeAgentChannel agents;
  FakeStorageProbe storage;
  FakeEventPublisher events;
  FakeOperatorLog oplog;
  AlertLog& alerts = events.alerts;  // the alerts announced (committed)
  SequentialIds ids;
  Rules rules;
  RecordingService service;
};

std::vector<std::byte> bytes_of(std::string_view text);

}  // namespace recorder::testing
