// Decisions that belong to the core, not to a dialect: a session's next recording id, the
// storage query that never acts, elapsed time by the core's clock, when a device is free,
// the file a capture writes now, and errors of background work that reach someone.

#include <catch2/catch.hpp>

#include "recorder/testing/fakes.hpp"

using namespace recorder::core;
using namespace recorder::testing;
using namespace std::chrono_literals;

TEST_CASE("a seed 002 session records again under -2 and -3 - a live one is resumed", "[rules][stream]") {
  Harness h;
  auto session = [&] { return h.service.start_stream(StreamStart{"sess", "wav", "audio/webm", "", {}, StreamIds::session}); };
  auto first = session();
  REQUIRE(first);
  CHECK(first->recording.id == "sess");
  auto again = session();  // still live: the same recording, resumed
  REQUIRE(again);
  CHECK(again->recording.id == "sess");
  CHECK(again->resumed);
  REQUIRE(h.service.stop("sess"));
  auto second = session();
  REQUIRE(second);
  CHECK(second->recording.id == "sess-2");
  REQUIRE(h.service.stop("sess-2"));
  h.finalize_ok("sess");
  auto third = session();
  REQUIRE(third);
  CHECK(third->recording.id == "sess-3");
}

TEST_CASE("the storage query changes nothing and tells nobody - the periodic check acts", "[rules][storage]") {
  Harness h;
  REQUIRE(h.service.start_stream(StreamStart{"abc", "", "video/webm", "", {}}));
  h.storage.set_used_percent(95);
  auto status = h.service.storage_status();
  REQUIRE(status);
  CHECK(status->level == StorageLevel::block);
  CHECK(h.get("abc").state == State::recording);
  CHECK(h.events.storage.empty());
  CHECK(h.repository.outbox.size() == 1);  // recording.started only

  REQUIRE(h.service.check_storage());
  CHECK(h.get("abc").state == State::finalizing);
  CHECK(h.get("abc").stop_reason == StopReason::storage_critical);
  CHECK(h.repository.count_notices("storage.critical") == 1);
}

TEST_CASE("elapsed time is the core clock's - until the stop once stopped", "[rules]") {
  Harness h;
  REQUIRE(h.service.start_stream(StreamStart{"abc", "", "video/webm", "", {}}));
  h.run_for(90s);
  CHECK(h.service.elapsed_seconds(h.get("abc")) == Approx(90));
  REQUIRE(h.service.stop("abc"));
  h.run_for(30s);
  CHECK(h.service.elapsed_seconds(h.get("abc")) == Approx(90));
}

TEST_CASE("when_released answers once a capture has confirmed its stop - the device is free then",
          "[rules][capture]") {
  Harness h;
  auto started = h.service.start_capture(CaptureStart{"cam0", "mp4", std::nullopt, "", ""});
  REQUIRE(started);
  const RecordingId id = started->id;
  h.service.on_capture_started(id);
  h.service.on_segment_opened(id, "recordings/x/cam0_1.mp4");
  CHECK(h.get(id).current_file == "recordings/x/cam0_1.mp4");
  h.service.on_segment_opened(id, "recordings/x/cam0_2.mp4");
  CHECK(h.get(id).current_file == "recordings/x/cam0_2.mp4");

  REQUIRE(h.service.stop(id));
  std::optional<Result<Recording>> released;
  h.service.when_released(id, [&](Result<Recording> r) { released = std::move(r); });
  CHECK_FALSE(released);  // stopping: the pipeline has not confirmed
  CHECK(h.service.live_on("cam0"));
  h.service.on_capture_stopped(id);
  REQUIRE(released);
  REQUIRE(*released);
  CHECK((*released)->state == State::finalizing);
  CHECK_FALSE(h.service.live_on("cam0"));
  REQUIRE(h.service.start_capture(CaptureStart{"cam0", "mp4", std::nullopt, "", ""}));

  std::optional<Result<Recording>> at_once;
  h.service.when_released(id, [&](Result<Recording> r) { at_once = std::move(r); });
  REQUIRE(at_once);
  CHECK(*at_once);
  h.service.when_released("nobody", [&](Result<Recording> r) { at_once = std::move(r); });
  CHECK(at_once->error().code == Errc::not_found);
}

TEST_CASE("a background callback that cannot be applied reaches the log and an alert", "[rules]") {
  Harness h;
  REQUIRE(h.service.start_stream(StreamStart{"abc", "", "video/webm", "", {}}));
  // A segment report for a stream is a bug somewhere else: said, not swallowed.
  h.service.on_segment_closed("abc", MediaFile{"x.mp4", FileRole::segment, 1, 1.0});
  CHECK(h.oplog.any_containing("segment_closed could not be applied"));
  CHECK(h.alerts.any_containing("segment_closed could not be applied"));
  CHECK(h.repository.count_notices("alert.warning") == 1);
}
