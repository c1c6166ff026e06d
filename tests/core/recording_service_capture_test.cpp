// Captures (seed 003 and 004 rules): device conflicts, start retries, rotation, pipeline
// errors, the storage guard and shutdown.

#include <catch2/catch.hpp>

#include "recorder/testing/fakes.hpp"

using namespace recorder::core;
using namespace recorder::testing;
using namespace std::chrono_literals;

namespace {

RecordingId start_capture(Harness& h, const std::string& device = "/dev/video0") {
  auto r = h.service.start_capture(CaptureStart{device, "mp4", std::nullopt, "", ""});
  REQUIRE(r);
  h.service.on_capture_started(r->id);
  REQUIRE(h.get(r->id).state == State::recording);
  return r->id;
}

MediaFile segment(int n) {
  return MediaFile{"camera0_2026-01-01_00-0" + std::to_string(n) + "-00.mp4", FileRole::segment, 1000, 60.0};
}

}  // namespace

TEST_CASE("a second start on a busy device answers device_busy with the existing session", "[capture][seed003]") {
  Harness h;
  const RecordingId first = start_capture(h);
  auto second = h.service.start_capture(CaptureStart{"/dev/video0", "mp4", std::nullopt, "", ""});
  REQUIRE_FALSE(second);
  CHECK(second.error().code == Errc::device_busy);
  CHECK(second.error().related_id == first);
  CHECK(h.service.start_capture(CaptureStart{"/dev/video1", "mp4", std::nullopt, "", ""}));

  // Once the first has stopped, the device is free again.
  REQUIRE(h.service.stop(first));
  h.service.on_capture_stopped(first);
  CHECK(h.service.start_capture(CaptureStart{"/dev/video0", "mp4", std::nullopt, "", ""}));
}

TEST_CASE("a capture that fails to start is retried with back-off - then failed with an alert",
          "[capture][seed004]") {
  Harness h;
  auto r = h.service.start_capture(CaptureStart{"rtsp://camera.invalid/stream", "mp4", std::nullopt, "", ""});
  REQUIRE(r);
  const RecordingId id = r->id;
  CHECK(h.capture.starts.size() == 1);

  h.service.on_capture_start_failed(id, "could not connect");
  h.run_for(4999ms);
  CHECK(h.capture.starts.size() == 1);
  h.run_for(1ms);
  CHECK(h.capture.starts.size() == 2);

  SECTION("a later attempt succeeds") {
    h.service.on_capture_started(id);
    CHECK(h.get(id).state == State::recording);
    CHECK(h.get(id).start_attempts == 2);
    CHECK(h.alerts.alerts.empty());
  }
  SECTION("the third failure is final") {
    h.service.on_capture_start_failed(id, "could not connect");
    h.run_for(10s);
    CHECK(h.capture.starts.size() == 3);
    h.service.on_capture_start_failed(id, "could not connect");
    const Recording rec = h.get(id);
    CHECK(rec.state == State::failed);
    CHECK(rec.error == "start failed after 3 attempts: could not connect");
    CHECK(h.alerts.count(Severity::critical) == 1);
    CHECK(h.events.for_recording(id).back() == Notice::failed);
    // The device is free for the next try.
    CHECK(h.service.start_capture(CaptureStart{"rtsp://camera.invalid/stream", "mp4", std::nullopt, "", ""}));
  }
}

TEST_CASE("a capture rotates its segment every interval and records each closed segment",
          "[capture][seed003]") {
  Rules rules;
  rules.rotation = 3s;
  Harness h(rules);
  const RecordingId id = start_capture(h);
  h.run_for(10s);
  CHECK(h.capture.rotations.size() == 3);
  for (int i = 0; i < 3; ++i) h.service.on_segment_closed(id, segment(i));
  h.service.on_segment_closed(id, segment(2));  // reported twice: kept once
  CHECK(segment_count(h.get(id)) == 3);
  CHECK(h.repository.rows.at(id).files.size() == 3);

  REQUIRE(h.service.stop(id));
  CHECK(h.get(id).state == State::stopping);
  CHECK(h.capture.stops == std::vector<RecordingId>{id});
  h.service.on_segment_closed(id, segment(3));
  h.service.on_capture_stopped(id);
  CHECK(h.get(id).state == State::finalizing);
  h.finalize_ok(id);
  const Recording r = h.get(id);
  CHECK(r.state == State::ready);
  CHECK(r.files.size() == 5);  // four segments and what finalize reported
  CHECK(h.capture.rotations.size() == 3);  // no rotation after the stop
}

TEST_CASE("a capture with a requested duration stops itself as completed", "[capture]") {
  Harness h;
  auto r = h.service.start_capture(CaptureStart{"/dev/video0", "mp4", 600s, "", ""});
  REQUIRE(r);
  h.service.on_capture_started(r->id);
  h.run_for(600s);
  CHECK(h.get(r->id).state == State::stopping);
  h.service.on_capture_stopped(r->id);
  h.finalize_ok(r->id);
  CHECK(h.get(r->id).outcome == Outcome::completed);
  CHECK(h.get(r->id).stop_reason == StopReason::completed);
}

TEST_CASE("a pipeline error stops the capture with reason error - keeps its segments and alerts", "[capture]") {
  Harness h;
  const RecordingId id = start_capture(h);
  h.service.on_segment_closed(id, segment(0));
  h.service.on_capture_failed(id, "device disappeared");
  Recording r = h.get(id);
  CHECK(r.state == State::finalizing);
  CHECK(r.stop_reason == StopReason::error);
  CHECK(h.alerts.any_containing("device disappeared"));
  h.finalize_ok(id);
  r = h.get(id);
  CHECK(r.state == State::failed);
  CHECK(r.outcome == Outcome::failed);
  CHECK(r.files.front() == segment(0));
}

TEST_CASE("a capture that never confirms its stop is finalized with what it has", "[capture]") {
  Harness h;
  const RecordingId id = start_capture(h);
  REQUIRE(h.service.stop(id));
  h.run_for(30s);
  CHECK(h.get(id).state == State::finalizing);
  CHECK(h.alerts.any_containing("did not confirm the stop"));
}

TEST_CASE("the storage guard: warn alerts once - block refuses new recordings and stops running ones",
          "[storage][seed003]") {
  Harness h;
  const RecordingId capture = start_capture(h);
  auto stream = h.service.start_stream(StreamStart{"s1", "", "", "", {}});
  REQUIRE(stream);
  auto agent = h.service.agent_start_confirmed(AgentReport{"room", "s", "o", "2025-10-30T15:00:00Z", {}, {}, {}, "", true, "", "", {}, {}});
  REQUIRE(agent);

  h.storage.set_used_percent(79.9);
  CHECK(h.service.check_storage()->level == StorageLevel::normal);
  CHECK(h.alerts.alerts.empty());

  h.storage.set_used_percent(85);
  auto warn = h.service.check_storage();
  REQUIRE(warn);
  CHECK(warn->level == StorageLevel::warn);
  CHECK(h.service.check_storage());  // the same level again: no second alert
  CHECK(h.alerts.count(Severity::warning) == 1);
  REQUIRE(h.events.storage.size() == 1);
  CHECK(h.events.storage[0].level == StorageLevel::warn);
  CHECK(h.service.start_stream(StreamStart{"s2", "", "", "", {}}));  // warn still admits

  h.storage.set_used_percent(90);
  CHECK(h.service.check_storage()->level == StorageLevel::block);
  CHECK(h.alerts.count(Severity::critical) == 1);
  CHECK(h.get(capture).state == State::stopping);
  CHECK(h.get(capture).stop_reason == StopReason::storage_critical);
  CHECK(h.get("s1").state == State::finalizing);
  CHECK(h.get("s1").stop_reason == StopReason::storage_critical);
  CHECK(h.get(agent->id).state == State::recording);  // records on its own disk

  auto refused = h.service.start_capture(CaptureStart{"/dev/video9", "mp4", std::nullopt, "", ""});
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::storage_critical);
  CHECK(refused.error().message.find("Storage space is critical") != std::string::npos);
  CHECK(h.service.start_stream(StreamStart{"s3", "", "", "", {}}).error().code == Errc::storage_critical);
  // The stopped stream keeps its chunks and takes no more.
  CHECK(h.service.receive_chunk("s1", std::nullopt, bytes_of("x")).error().code == Errc::invalid_state);
}

TEST_CASE("a disk that cannot be measured is an error for the probe - not for recording", "[storage]") {
  Harness h;
  h.storage.broken = true;
  auto status = h.service.check_storage();
  REQUIRE_FALSE(status);
  CHECK(status.error().code == Errc::storage_unavailable);
  CHECK(h.service.start_stream(StreamStart{"s1", "", "", "", {}}));
}

TEST_CASE("shutdown stops captures and leaves streams resumable", "[capture]") {
  Harness h;
  const RecordingId capture = start_capture(h);
  REQUIRE(h.service.start_stream(StreamStart{"s1", "", "", "", {}}));
  h.service.shutdown();
  CHECK(h.get(capture).state == State::stopping);
  CHECK(h.get(capture).stop_reason == StopReason::shutdown);
  CHECK(h.get("s1").state == State::recording);
  CHECK(h.repository.rows.at("s1").state == State::recording);
}

TEST_CASE("at warn a capture whose requested duration would reach the block threshold is storage_low",
          "[storage][seed003]") {
  Harness h;
  h.storage.info = StorageInfo{100'000'000'000, 15'000'000'000};  // 85 % used: warn; 5 GB before 90 %
  auto short_one = h.service.start_capture(CaptureStart{"/dev/video0", "mp4", 3600s, "", ""});  // 1.8 GB
  CHECK(short_one);
  auto long_one = h.service.start_capture(CaptureStart{"/dev/video1", "mp4", 4h, "", ""});  // 7.2 GB
  REQUIRE_FALSE(long_one);
  CHECK(long_one.error().code == Errc::storage_low);
  CHECK(long_one.error().message.find("Storage space is low") == 0);
  CHECK(h.service.start_capture(CaptureStart{"/dev/video2", "mp4", std::nullopt, "", ""}));  // no duration: admitted
}

TEST_CASE("a cluster's follower acts on the storage level but leaves telling of it to the leader", "[storage][cluster]") {
  Harness h;
  auto stream = h.service.start_stream(StreamStart{"s1", "", "", "", {}});
  REQUIRE(stream);
  h.storage.set_used_percent(85);
  CHECK(h.service.check_storage(false)->level == StorageLevel::warn);
  CHECK(h.alerts.alerts.empty());
  CHECK(h.events.storage.empty());
  h.storage.set_used_percent(90);
  CHECK(h.service.check_storage(false)->level == StorageLevel::block);
  CHECK(h.alerts.alerts.empty());
  CHECK(h.get("s1").stop_reason == StopReason::storage_critical);  // acted on all the same
  // Leading now, at the same level: already told by the old leader, not again.
  CHECK(h.service.check_storage(true)->level == StorageLevel::block);
  CHECK(h.alerts.alerts.empty());
  h.storage.set_used_percent(50);
  CHECK(h.service.check_storage(true)->level == StorageLevel::normal);
  CHECK(h.events.storage.size() == 1);
}
