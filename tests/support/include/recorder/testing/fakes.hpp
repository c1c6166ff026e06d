#pragma once

// Fakes of every core port, for the core's unit tests. They never sleep and never start
// threads: time moves only when a test says so.

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "recorder/core/app/recording_service.hpp"
#include "recorder/core/ports/url_signer.hpp"

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
  void arm(const RecordingId& id, DeadlineKind kind, MonoTime at) override { deadlines_[{id, kind}] = at; }
  void cancel(const RecordingId& id, DeadlineKind kind) override { deadlines_.erase({id, kind}); }
  void cancel_all(const RecordingId& id) override;

  std::optional<MonoTime> deadline(const RecordingId& id, DeadlineKind kind) const;
  bool armed(const RecordingId& id, DeadlineKind kind) const { return deadline(id, kind).has_value(); }
  std::size_t size() const { return deadlines_.size(); }

  // Moves the clock forward by `d`, firing every deadline that falls due on the way, in
  // order, each at its own time. Returns how many fired.
  std::size_t run_for(FakeClock& clock, RecordingService& service, Duration d);

 private:
  std::map<std::pair<RecordingId, DeadlineKind>, MonoTime> deadlines_;
};

class FakeRepository final : public RecordingRepository {
 public:
  // Port
  Result<void> save(const Recording& r, std::span<const RecordingEvent> events) override;
  Result<std::optional<Recording>> find(const RecordingId& id) override;
  Result<std::optional<Recording>> find_by_agent_key(const std::string& key) override;
  Result<std::vector<Recording>> find_unfinished() override;
  Result<std::vector<Recording>> list(const RecordingQuery& q) override;
  Result<std::vector<RecordingEvent>> events(const RecordingId& id) override;

  bool down = false;  // every call fails with Errc::unavailable
  std::size_t saves = 0;
  std::map<RecordingId, Recording> rows;
  std::vector<RecordingEvent> log;
};

class FakeChunkStore final : public ChunkStore {
 public:
  // Port
  Result<void> put(const RecordingId& id, ChunkIndex index, std::span<const std::byte> bytes) override;
  Result<ChunkLedger> scan(const RecordingId& id) override;
  Result<void> remove(const RecordingId& id) override;

  std::optional<Errc> fail_with;  // storage_full or io_error: the next puts fail
  bool fail_scan = false;
  std::size_t puts = 0;
  std::map<std::pair<RecordingId, ChunkIndex>, std::vector<std::byte>> chunks;
  std::string concatenated(const RecordingId& id) const;
};

class FakeFinalizer final : public MediaFinalizer {
 public:
  struct Job {
    RecordingId id;
    bool processing;
    Done done;
  };
  // Port
  void finalize(const Recording& r, Done done) override { jobs.push_back({r.id, false, std::move(done)}); }
  void process(const Recording& r, Done done) override { jobs.push_back({r.id, true, std::move(done)}); }
  Result<void> remove(const Recording& r) override {
    removed.push_back(r.id);
    return ok();
  }

  // Completes the oldest pending job for `id` with `result`; false when there is none.
  bool complete(const RecordingId& id, Result<FinalizeResult> result);
  std::size_t pending(const RecordingId& id, bool processing) const;

  std::vector<Job> jobs;
  std::vector<RecordingId> removed;
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

  bool connected = true;
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

class FakeAlertSink final : public AlertSink {
 public:
  // Port
  void alert(const Alert& a) override { alerts.push_back(a); }
  std::size_t count(Severity s) const;
  bool any_containing(std::string_view text) const;
  std::vector<Alert> alerts;
};

class FakeEventPublisher final : public EventPublisher {
 public:
  // Port
  void publish(const RecordingNotice& n) override { notices.push_back(n); }
  void publish(const StorageNotice& n) override { storage.push_back(n); }

  std::vector<Notice> for_recording(const RecordingId& id) const;
  std::vector<RecordingNotice> notices;
  std::vector<StorageNotice> storage;
};

class FakeUrlSigner final : public UrlSigner {
 public:
  // Port
  SignedUrl sign(const std::string& path, WallTime expires_at) const override;
  bool verify(const std::string& path, WallTime expires_at, const std::string& signature,
              WallTime now) const override;
  static std::string signature_of(const std::string& path, WallTime expires_at);
};

class SequentialIds final : public IdGenerator {
 public:
  // Port
  std::string next() override { return "id-" + std::to_string(++n_); }

 private:
  int n_ = 0;
};

// Every fake, wired into one RecordingService.
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
  FakeAlertSink alerts;
  FakeEventPublisher events;
  SequentialIds ids;
  Rules rules;
  RecordingService service;
};

std::vector<std::byte> bytes_of(std::string_view text);

}  // namespace recorder::testing
