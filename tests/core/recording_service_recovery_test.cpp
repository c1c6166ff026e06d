// Recovery after a crash, at core level: a new service over the same store and chunks.

#include <catch2/catch.hpp>

#include "recorder/testing/fakes.hpp"

using namespace recorder::core;
using namespace recorder::testing;
using namespace std::chrono_literals;

namespace {

std::string chunk_text(ChunkIndex i) { return "<" + std::to_string(i) + ">"; }

RecordingId stream_with_chunks(Harness& h, ChunkIndex n, StreamLimits limits = {}) {
  auto s = h.service.start_stream(StreamStart{"abc", "", "video/webm", "", limits});
  REQUIRE(s);
  for (ChunkIndex i = 0; i < n; ++i) {
    h.run_for(1s);
    REQUIRE(h.service.receive_chunk("abc", i, bytes_of(chunk_text(i))));
  }
  return "abc";
}

}  // namespace

TEST_CASE("a stream live at a crash is resumable for its grace and continues where the chunks end",
          "[recovery][stream]") {
  Harness before;
  stream_with_chunks(before, 10);
  auto h = before.restarted(2s);
  auto report = h->service.recover();
  REQUIRE(report);
  CHECK(report->recovered == 1);
  CHECK(report->failed.empty());
  const Recording r = h->get("abc");
  CHECK(r.state == State::interrupted);
  CHECK(r.ledger.chunk_count() == 10);
  CHECK(h->scheduler.armed("abc", DeadlineKind::grace));

  auto resumed = h->service.start_stream(StreamStart{"abc", "", "", "", {}});
  REQUIRE(resumed);
  CHECK(resumed->resumed);
  CHECK(resumed->next_index == 10);
  for (ChunkIndex i = 10; i < 15; ++i) REQUIRE(h->service.receive_chunk("abc", i, bytes_of(chunk_text(i))));
  REQUIRE(h->service.stop("abc"));
  h->finalize_ok("abc");
  CHECK(h->get("abc").state == State::ready);
  std::string expected;
  for (ChunkIndex i = 0; i < 15; ++i) expected += chunk_text(i);
  CHECK(h->chunks.concatenated("abc") == expected);
  auto log = h->repository.events("abc");
  REQUIRE(log);
  CHECK(std::ranges::any_of(*log, [](const RecordingEvent& e) { return e.transition.event == "recovered"; }));
}

TEST_CASE("a recovered stream nobody resumes is finalized with what is durable", "[recovery][stream]") {
  Harness before;
  stream_with_chunks(before, 10);
  before.chunks.chunks.erase({"abc", 9});  // its write never became durable
  auto h = before.restarted(1min);
  REQUIRE(h->service.recover());
  CHECK(h->get("abc").ledger.chunk_count() == 9);
  h->run_for(5s);
  const Recording r = h->get("abc");
  CHECK(r.state == State::finalizing);
  CHECK(r.stop_reason == StopReason::disconnect);
  CHECK(r.missing_chunks.empty());
  h->finalize_ok("abc");
  CHECK(h->get("abc").state == State::ready);
}

TEST_CASE("the duration limit counts from the original start across a restart", "[recovery][stream]") {
  Harness before;
  StreamLimits limits;
  limits.max_duration = 3600s;
  stream_with_chunks(before, 3, limits);  // started at t0, now t0 + 3 s
  before.run_for(3000s);
  auto h = before.restarted(10s);  // t0 + 3013 s
  REQUIRE(h->service.recover());
  REQUIRE(h->service.start_stream(StreamStart{"abc", "", "", "", {}}));
  h->run_for(586s);
  CHECK(h->get("abc").state == State::recording);
  h->run_for(1s);  // t0 + 3600 s
  CHECK(h->get("abc").state == State::finalizing);
  CHECK(h->get("abc").stop_reason == StopReason::automatic_limit);
}

TEST_CASE("a stream whose chunks cannot be verified is left alone and reported", "[recovery][stream]") {
  Harness before;
  stream_with_chunks(before, 2);
  auto h = before.restarted(1s);
  h->chunks.fail_scan = true;
  auto report = h->service.recover();
  REQUIRE(report);
  CHECK(report->recovered == 0);
  REQUIRE(report->failed.size() == 1);
  CHECK(report->failed[0].message.find("cannot verify its chunks") != std::string::npos);
  CHECK(h->alerts.count(Severity::critical) == 1);
  CHECK(h->repository.rows.at("abc").state == State::recording);  // untouched
}

TEST_CASE("an agent recording gets a fresh stale window after a restart", "[recovery][agent]") {
  Harness before;
  AgentReport report{"room-1", "s", "o", "2025-10-30T15:00:00Z", {}, {}, {}, "", true, "", "", {}, {}};
  const RecordingId id = before.service.agent_start_confirmed(report)->id;
  auto h = before.restarted(30s);
  REQUIRE(h->service.recover());
  CHECK(h->get(id).state == State::recording);
  h->run_for(59s);
  CHECK(h->get(id).state == State::recording);
  h->run_for(1s);
  CHECK(h->get(id).state == State::stale);
  // Its key still finds it.
  CHECK(h->service.agent_status(report)->id == id);
  CHECK(h->get(id).state == State::recording);
}

TEST_CASE("a capture live at a crash starts again on the same recording", "[recovery][capture]") {
  Harness before;
  auto started = before.service.start_capture(CaptureStart{"/dev/video0", "mp4", std::nullopt, "", ""});
  REQUIRE(started);
  const RecordingId id = started->id;
  before.service.on_capture_started(id);
  before.service.on_segment_closed(id, MediaFile{"seg0.mp4", FileRole::segment, 10, 60.0});
  const auto started_at = before.get(id).started_at;

  auto h = before.restarted(5s);
  REQUIRE(h->service.recover());
  CHECK(h->get(id).state == State::starting);
  CHECK(h->capture.starts == std::vector<RecordingId>{id});
  h->service.on_capture_started(id);
  const Recording r = h->get(id);
  CHECK(r.state == State::recording);
  CHECK(r.started_at == started_at);
  CHECK(r.files.size() == 1);
  // The device is held again.
  CHECK(h->service.start_capture(CaptureStart{"/dev/video0", "mp4", std::nullopt, "", ""}).error().code ==
        Errc::device_busy);
}

TEST_CASE("a finalize cut short by a crash runs again", "[recovery]") {
  Harness before;
  stream_with_chunks(before, 3);
  REQUIRE(before.service.stop("abc"));
  auto h = before.restarted(1s);
  REQUIRE(h->service.recover());
  CHECK(h->finalizer.pending("abc", false) == 1);
  h->finalize_ok("abc");
  CHECK(h->get("abc").state == State::ready);
}

TEST_CASE("finished recordings are not touched by recovery", "[recovery]") {
  Harness before;
  stream_with_chunks(before, 1);
  REQUIRE(before.service.stop("abc"));
  before.finalize_ok("abc");
  auto h = before.restarted(1s);
  auto report = h->service.recover();
  REQUIRE(report);
  CHECK(report->recovered == 0);
  CHECK(h->repository.saves == 0);
}

TEST_CASE("flush writes what a database outage held back", "[recovery]") {
  Harness h;
  h.repository.down = true;
  stream_with_chunks(h, 1);
  CHECK(h.service.flush() == 1);
  h.repository.down = false;
  CHECK(h.service.flush() == 0);
  CHECK(h.repository.rows.at("abc").state == State::recording);
  CHECK(h.repository.log.size() == 2);
}

TEST_CASE("a stream saved as created but not as started is resumable after a crash", "[recovery][stream]") {
  Harness before;
  REQUIRE(before.service.start_stream(StreamStart{"early", "", "video/webm", "", {}}));
  // The process died between the two saves: the store still says starting.
  before.repository.rows.at("early").state = State::starting;
  before.repository.rows.at("early").started_at.reset();
  auto h = before.restarted(1s);
  REQUIRE(h->service.recover());
  CHECK(h->get("early").state == State::interrupted);
  auto resumed = h->service.start_stream(StreamStart{"early", "", "", "", {}});
  REQUIRE(resumed);
  CHECK(resumed->resumed);
  CHECK(resumed->next_index == 0);
  REQUIRE(h->service.receive_chunk("early", 0, bytes_of("x")));
}
