// recorderd is SIGKILLed while it captures a test camera: every closed segment still plays
// and the open one is readable up to its last fragment (fragmented MP4).

#include <catch2/catch.hpp>

#include <signal.h>

#include <fstream>
#include <iterator>
#include <regex>
#include <thread>

#include <rapidjson/document.h>

#include "recorder/adapters/gstreamer/gst_media.hpp"
#include "recorder/testing/process.hpp"
#include "recorder/testing/temp_dir.hpp"
#include "recorder/testing/ws_client.hpp"

using namespace recorder;
using namespace std::chrono_literals;

TEST_CASE("after SIGKILL mid-capture every segment is readable - the open one up to its last fragment",
          "[integration][capture][crash]") {
  testing::TempDir dir;
  const auto log = dir.path() / "recorderd.log";
  const pid_t pid = testing::spawn({RECORDERD, "--data-dir", (dir.path() / "data").string(), "--listen", "127.0.0.1:0",
                                    "--set", "capture.devices=camera0=test", "--set", "capture.rotation_seconds=2",
                                    "--set", "capture.keyframe_seconds=1"},
                                   log);
  REQUIRE(testing::wait_for_text(log, "msg=\"recorderd started\"", 1, 20s));
  std::ifstream in(log);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::smatch m;
  REQUIRE(std::regex_search(text, m, std::regex(R"(listen=127\.0\.0\.1:(\d+))")));
  std::string error;
  auto rpc = testing::WsClient::connect("ws://127.0.0.1:" + m[1].str() + "/rpc", error);
  REQUIRE(rpc);
  rpc->send_text(R"({"jsonrpc":"2.0","id":1,"method":"start_recording","params":{"device":"camera0"}})");
  auto started = rpc->next(10s);
  REQUIRE(started);
  REQUIRE(started->payload.find("session_id") != std::string::npos);

  // Two closed segments, then a kill in the middle of the third, once it holds a fragment.
  REQUIRE(testing::wait_for_text(log, "msg=\"recording.segment\"", 2, 30s));
  const auto newest_size = [&] {
    std::filesystem::path newest;
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir.path() / "data" / "recordings"))
      if (e.path().extension() == ".mp4" && e.path() > newest) newest = e.path();
    std::error_code ec;
    return newest.empty() ? std::uintmax_t{0} : std::filesystem::file_size(newest, ec);
  };
  const auto until = std::chrono::steady_clock::now() + 20s;
  while (newest_size() <= 20000 && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(20ms);
  ::kill(pid, SIGKILL);
  REQUIRE(testing::wait_exit(pid, 10s));

  std::vector<std::filesystem::path> segments;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir.path() / "data" / "recordings"))
    if (e.path().extension() == ".mp4") segments.push_back(e.path());
  std::ranges::sort(segments);
  REQUIRE(segments.size() >= 3);
  for (const auto& s : segments) {
    INFO(s.filename().string());
    CHECK(s.filename().string().rfind("camera0_", 0) == 0);
    auto info = adapters::gstreamer::probe(s);
    INFO((info ? "" : info.error().message));
    REQUIRE(info);
    CHECK(info->has_video);
    REQUIRE(info->duration_seconds);
  }
  // The open segment holds more than its header: at least its first fragment (500 ms).
  CHECK(std::filesystem::file_size(segments.back()) > 20000);
}
