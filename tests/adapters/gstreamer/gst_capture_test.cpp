// Capture with real GStreamer pipelines from test sources, driven by the real service and
// its deadline thread: rotation into readable segments, a source that ends, a device that
// does not exist.

#include <catch2/catch.hpp>

#include <thread>

#include "recorder/adapters/fs/fs_chunk_store.hpp"
#include "recorder/adapters/fs/fs_finalizer.hpp"
#include "recorder/adapters/gstreamer/gst_capture.hpp"
#include "recorder/adapters/gstreamer/gst_media.hpp"
#include "recorder/adapters/system/system_clock.hpp"
#include "recorder/adapters/system/thread_scheduler.hpp"
#include "recorder/testing/fakes.hpp"
#include "recorder/testing/temp_dir.hpp"

using namespace recorder;
using namespace std::chrono_literals;

namespace {

std::vector<core::Device> devices_of(const std::map<std::string, std::string>& configured) {
  std::vector<core::Device> out;
  for (const auto& [name, text] : configured) {
    auto source = core::parse_device_source(text);
    REQUIRE(source);
    out.push_back(core::Device{name, *source, text});
  }
  return out;
}

struct CaptureRig {
  explicit CaptureRig(std::map<std::string, std::string> devices, core::Rules rules)
      : chunks(dir.path() / "chunks"),
        finalizer(chunks, dir.path()),
        driver(devices_of(devices), dir.path(), 1s),
        service(core::Ports{clock, scheduler, repository, repository, chunks, finalizer, driver, agents, probe, events,
                            oplog, ids},
                rules, {}) {
    driver.bind(service);
    scheduler.set_handler([this](const core::RecordingId& id, core::DeadlineKind k) { service.on_deadline(id, k); });
    scheduler.start();
  }
  ~CaptureRig() {
    driver.stop_all();
    scheduler.stop();
    finalizer.stop();
  }

  core::Recording wait_for(const core::RecordingId& id, const std::function<bool(const core::Recording&)>& done,
                           std::chrono::seconds deadline = 30s) {
    const auto until = std::chrono::steady_clock::now() + deadline;
    for (;;) {
      auto r = service.get(id);
      REQUIRE(r);
      if (done(*r)) return *r;
      if (std::chrono::steady_clock::now() > until) FAIL("state " << core::to_string(r->state));
      std::this_thread::sleep_for(20ms);
    }
  }

  testing::TempDir dir;
  adapters::system::SystemClock clock;
  adapters::system::ThreadScheduler scheduler;
  testing::FakeRepository repository;
  adapters::fs::FsChunkStore chunks;
  adapters::fs::FsFinalizer finalizer;
  adapters::gstreamer::GstCaptureDriver driver;
  testing::FakeAgentChannel agents;
  testing::FakeStorageProbe probe;
  testing::FakeEventPublisher events;
  testing::FakeOperatorLog oplog;
  testing::AlertLog& alerts = events.alerts;
  testing::SequentialIds ids;
  core::RecordingService service;
};

}  // namespace

TEST_CASE("a 10 s capture with 3 s rotation gives readable segments that add up to the wall time",
          "[gstreamer][capture][seed003]") {
  core::Rules rules;
  rules.rotation = 3s;
  CaptureRig rig({{"camera0", "test"}}, rules);
  auto started = rig.service.start_capture(core::CaptureStart{"camera0", "mp4", std::nullopt, "", ""});
  REQUIRE(started);
  const auto id = started->id;
  rig.wait_for(id, [](const core::Recording& r) { return r.state == core::State::recording; });
  const auto t0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(10s);  // the capture's length is the point of this test
  REQUIRE(rig.service.stop(id));
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto r = rig.wait_for(id, [](const core::Recording& x) { return core::is_terminal(x.state); });
  INFO(r.error);
  CHECK(r.state == core::State::ready);
  REQUIRE(r.files.size() >= 3);
  double sum = 0;
  for (const auto& f : r.files) {
    INFO(f.path);
    CHECK(f.role == core::FileRole::segment);
    CHECK(f.path.find("camera0_") != std::string::npos);
    CHECK(f.path.ends_with(".mp4"));
    REQUIRE(f.duration_seconds);
    sum += *f.duration_seconds;
    auto info = adapters::gstreamer::probe(rig.dir.path() / f.path);
    INFO((info ? "" : info.error().message));
    REQUIRE(info);
    CHECK(info->has_video);
  }
  CHECK(sum == Approx(wall).margin(0.5));
  CHECK(rig.repository.rows.at(id).files.size() == r.files.size());
}

TEST_CASE("a source that ends stops the capture with reason error - its segments are kept and alerted",
          "[gstreamer][capture]") {
  CaptureRig rig({{"short", "pipeline:videotestsrc is-live=true num-buffers=30 ! video/x-raw,framerate=15/1"}}, {});
  auto started = rig.service.start_capture(core::CaptureStart{"short", "mp4", std::nullopt, "", ""});
  REQUIRE(started);
  const auto r = rig.wait_for(started->id, [](const core::Recording& x) { return core::is_terminal(x.state); });
  CHECK(r.state == core::State::failed);
  CHECK(r.stop_reason == core::StopReason::error);
  CHECK(r.error.find("the source ended the stream") != std::string::npos);
  REQUIRE(r.files.size() == 1);
  CHECK(*r.files[0].duration_seconds == Approx(2.0).margin(0.3));
  CHECK(rig.alerts.any_containing("the source ended the stream"));
}

TEST_CASE("a device that is not configured fails its start attempts and then the recording", "[gstreamer][capture]") {
  core::Rules rules;
  rules.start_retry.initial_delay = 50ms;
  rules.start_retry.max_attempts = 2;
  CaptureRig rig({}, rules);
  auto started = rig.service.start_capture(core::CaptureStart{"camera9", "mp4", std::nullopt, "", ""});
  REQUIRE(started);
  const auto r = rig.wait_for(started->id, [](const core::Recording& x) { return core::is_terminal(x.state); });
  CHECK(r.state == core::State::failed);
  CHECK(r.error == "start failed after 2 attempts: no device 'camera9' is configured");
}
