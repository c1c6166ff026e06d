// Recordings never wait for each other: a recording's save (a database commit with an
// fsync) runs with only that recording's lock held. These tests block one save on purpose
// and show that other recordings go on meanwhile. They wait on conditions, never on time.

#include <catch2/catch.hpp>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "recorder/testing/fakes.hpp"

using namespace recorder::core;
using namespace recorder::testing;
using namespace std::chrono_literals;

namespace {

// Holds the saves of one recording until released.
class SaveGate {
 public:
  explicit SaveGate(Harness& h, RecordingId blocked) : blocked_(std::move(blocked)) {
    h.repository.before_save = [this](const Recording& r) {
      if (r.id != blocked_) return;
      std::unique_lock lock(mutex_);
      waiting_ = true;
      changed_.notify_all();
      changed_.wait(lock, [&] { return open_; });
    };
  }
  // True once the blocked recording is inside its save (within 10 s).
  bool wait_until_blocked() {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, 10s, [&] { return waiting_; });
  }
  void open() {
    std::lock_guard lock(mutex_);
    open_ = true;
    changed_.notify_all();
  }

 private:
  RecordingId blocked_;
  std::mutex mutex_;
  std::condition_variable changed_;
  bool waiting_ = false;
  bool open_ = false;
};

}  // namespace

TEST_CASE("a start whose save is stuck does not delay another recording's chunks or stop", "[concurrency]") {
  Harness h;
  REQUIRE(h.service.start_stream(StreamStart{"fast", "", "video/webm", "", {}}));
  SaveGate gate(h, "slow");
  std::thread starter([&] { REQUIRE(h.service.start_stream(StreamStart{"slow", "", "video/webm", "", {}})); });
  REQUIRE(gate.wait_until_blocked());

  // "slow" is inside its database commit; "fast" is acknowledged meanwhile.
  for (ChunkIndex i = 0; i < 3; ++i) {
    auto ack = h.service.receive_chunk("fast", i, bytes_of("chunk"));
    REQUIRE(ack);
    CHECK(ack->index == i);
  }
  CHECK(h.service.get("fast")->ledger.chunk_count() == 3);
  CHECK(h.service.live().size() == 1);  // "slow" is not live until its row is written

  gate.open();
  starter.join();
  CHECK(h.service.get("slow")->state == State::recording);
  REQUIRE(h.service.stop("fast"));
}

TEST_CASE("a device is reserved before the slow save of its capture - a second start is refused at once",
          "[concurrency][capture]") {
  Harness h;
  SaveGate gate(h, "id-1");  // the first recording id the harness hands out
  std::thread starter([&] { REQUIRE(h.service.start_capture(CaptureStart{"cam0", "mp4", std::nullopt, "", ""})); });
  REQUIRE(gate.wait_until_blocked());
  auto second = h.service.start_capture(CaptureStart{"cam0", "mp4", std::nullopt, "", ""});
  REQUIRE_FALSE(second);
  CHECK(second.error().code == Errc::device_busy);
  CHECK(second.error().related_id == "id-1");
  gate.open();
  starter.join();
}

TEST_CASE("many threads start - stream - stop recordings at once and each ends with exactly its chunks",
          "[concurrency]") {
  Harness h;  // every fake may be called from any thread, as the ports say
  RecordingService& service = h.service;

  constexpr int kThreads = 8;
  constexpr int kRecordings = 25;
  constexpr ChunkIndex kChunks = 10;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int n = 0; n < kRecordings; ++n) {
        const RecordingId id = "t" + std::to_string(t) + "-" + std::to_string(n);
        REQUIRE(service.start_stream(StreamStart{id, "", "video/webm", "", {}}));
        for (ChunkIndex i = 0; i < kChunks; ++i) REQUIRE(service.receive_chunk(id, i, bytes_of(id + ":" + std::to_string(i))));
        auto stopped = service.stop(id);
        REQUIRE(stopped);
        CHECK(stopped->state == State::finalizing);
        CHECK(stopped->ledger.chunk_count() == kChunks);
      }
    });
  }
  for (auto& t : threads) t.join();

  CHECK(h.finalizer.jobs.size() == kThreads * kRecordings);
  CHECK(h.chunks.chunks.size() == kThreads * kRecordings * kChunks);
  CHECK(h.repository.rows.size() == kThreads * kRecordings);
  for (const auto& [id, r] : h.repository.rows) CHECK(r.state == State::finalizing);
  // Every recording announced started and stopped, once each.
  CHECK(h.events.notices.size() == 2 * kThreads * kRecordings);
  CHECK(h.repository.outbox.size() == 2 * kThreads * kRecordings);
}
