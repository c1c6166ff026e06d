// JSON-RPC 2.0 on /rpc (seed 003) against recorderd with a real test camera (GStreamer),
// and the storage thresholds on a small real filesystem.

#include <sys/mount.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "daemon_fixture.hpp"
#include "json_util.hpp"
#include "recorder/adapters/gstreamer/gst_media.hpp"

using namespace recorder;
using namespace recorder::testing;
using namespace std::chrono_literals;

namespace {

rapidjson::Document call(WsClient& c, const std::string& request) {
  c.send_text(request);
  auto m = c.next(30s);
  REQUIRE(m);
  INFO(m->payload);
  auto d = parse_json(m->payload);
  REQUIRE(d.IsObject());
  return d;
}

std::string req(int id, const std::string& method, const std::string& params = "{}") {
  return R"({"jsonrpc":"2.0","id":)" + std::to_string(id) + R"(,"method":")" + method + R"(","params":)" + params + "}";
}

int error_code(const rapidjson::Document& d) {
  REQUIRE(d.HasMember("error"));
  return d["error"]["code"].GetInt();
}

}  // namespace

TEST_CASE("JSON-RPC: ping - cameras - start - conflict - status - stop - list", "[daemon][rpc][seed003]") {
  RunningDaemon d(Settings{{"capture.devices", "camera0=test"}, {"capture.rotation_seconds", "2"},
                           {"capture.keyframe_seconds", "1"}});
  auto c = d.connect("/rpc");
  CHECK(std::string(call(*c, req(1, "ping"))["result"].GetString()) == "pong");

  auto list = call(*c, req(2, "get_camera_list"));
  REQUIRE(list["result"]["cameras"].Size() == 1);
  CHECK(std::string(list["result"]["cameras"][0]["camera_id"].GetString()) == "camera0");
  CHECK_FALSE(list["result"]["cameras"][0]["recording"].GetBool());
  CHECK(list["result"]["cameras"][0].HasMember("storage_warning"));

  auto started = call(*c, req(3, "start_recording", R"({"device":"camera0"})"));
  INFO(started["result"].IsObject());
  const std::string session = started["result"]["session_id"].GetString();
  CHECK(started["id"].GetInt() == 3);

  auto again = call(*c, req(4, "start_recording", R"({"device":"camera0"})"));
  CHECK(error_code(again) == -1006);
  CHECK(std::string(again["error"]["message"].GetString()) == "Camera is currently recording");
  CHECK(std::string(again["error"]["data"]["camera_id"].GetString()) == "camera0");
  CHECK(std::string(again["error"]["data"]["session_id"].GetString()) == session);

  // The file being written is named from the start and changes at each rotation (2 s).
  auto current_file = [&] {
    auto status = call(*c, req(5, "get_camera_status", R"({"device":"camera0"})"));
    const auto& r = status["result"];
    CHECK(r["recording"].GetBool());
    CHECK(std::string(r["recording_session"].GetString()) == session);
    return r["current_file"].IsString() ? std::string(r["current_file"].GetString()) : std::string();
  };
  std::string first;
  const auto until = std::chrono::steady_clock::now() + 20s;
  while (first.empty() && std::chrono::steady_clock::now() < until) {
    first = current_file();
    if (first.empty()) std::this_thread::sleep_for(50ms);
  }
  CHECK(first.find("camera0_") != std::string::npos);
  std::string next = first;
  while (next == first && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(100ms);
    next = current_file();
  }
  CHECK(next.find("camera0_") != std::string::npos);
  CHECK(next != first);

  // stop_recording answers once the camera has stopped: status and start right after it
  // see a free camera.
  auto stopped = call(*c, req(6, "stop_recording", R"({"device":"camera0"})"));
  CHECK(std::string(stopped["result"]["session_id"].GetString()) == session);
  auto after = call(*c, req(61, "get_camera_status", R"({"device":"camera0"})"));
  CHECK_FALSE(after["result"]["recording"].GetBool());
  auto restarted = call(*c, req(62, "start_recording", R"({"device":"camera0"})"));
  REQUIRE(restarted["result"].IsObject());
  const std::string second = restarted["result"]["session_id"].GetString();
  CHECK(second != session);
  const auto running_by = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < running_by &&
         std::string(call(*c, req(64, "get_camera_status", R"({"device":"camera0"})"))["result"]["state"].GetString()) !=
             "recording")
    std::this_thread::sleep_for(50ms);
  CHECK(call(*c, req(63, "stop_recording", R"({"device":"camera0"})"))["result"].IsObject());
  const auto r = d.wait_finished(session, 20s);
  CHECK(r.state == core::State::ready);
  CHECK(r.files.size() >= 2);
  bool first_is_a_segment = false;
  for (const auto& f : r.files) first_is_a_segment |= f.path == first;
  CHECK(first_is_a_segment);
  CHECK(d.wait_finished(second, 20s).state == core::State::ready);

  auto recordings = call(*c, req(7, "list_recordings", R"({"state":"ready","limit":5})"));
  REQUIRE(recordings["result"]["recordings"].Size() == 2);
  CHECK(std::string(recordings["result"]["recordings"][1]["session_id"].GetString()) == session);
  CHECK(call(*c, req(8, "stop_recording", R"({"device":"camera0"})"))["error"]["code"].GetInt() == -32602);

  auto storage = call(*c, req(9, "get_storage_info"));
  for (const char* field : {"total_space", "available_space", "used_percent", "warn_threshold", "block_threshold"})
    CHECK(storage["result"].HasMember(field));
  CHECK(storage["result"]["warn_threshold"].GetDouble() == 80);
}

TEST_CASE("JSON-RPC: the standard errors - batches - notifications", "[daemon][rpc]") {
  RunningDaemon d(Settings{{"capture.devices", "camera0=test"}});
  auto c = d.connect("/rpc");
  CHECK(error_code(call(*c, "{oops")) == -32700);
  CHECK(error_code(call(*c, R"({"jsonrpc":"1.0","id":1,"method":"ping"})")) == -32600);
  CHECK(error_code(call(*c, R"({"jsonrpc":"2.0","id":1})")) == -32600);
  CHECK(error_code(call(*c, "[]")) == -32600);
  CHECK(error_code(call(*c, req(1, "dance"))) == -32601);
  CHECK(error_code(call(*c, req(2, "get_camera_status"))) == -32602);
  auto unknown = call(*c, req(3, "get_camera_status", R"({"device":"camera7"})"));
  CHECK(error_code(unknown) == -32602);
  CHECK(std::string(unknown["error"]["message"].GetString()).find("no camera 'camera7'") != std::string::npos);
  CHECK(error_code(call(*c, req(4, "start_recording", R"({"device":"camera0","duration":-5})"))) == -32602);
  CHECK(error_code(call(*c, req(5, "list_recordings", R"({"state":"sleeping"})"))) == -32602);

  // A batch: two answers in one array; the notification (no id) gets none.
  c->send_text(R"([{"jsonrpc":"2.0","id":"a","method":"ping"},{"jsonrpc":"2.0","method":"ping"},)"
               R"({"jsonrpc":"2.0","id":"b","method":"nope"}])");
  auto batch = c->next(10s);
  REQUIRE(batch);
  auto doc = parse_json(batch->payload);
  REQUIRE(doc.IsArray());
  REQUIRE(doc.Size() == 2);
  CHECK(std::string(doc[0]["id"].GetString()) == "a");
  CHECK(std::string(doc[0]["result"].GetString()) == "pong");
  CHECK(doc[1]["error"]["code"].GetInt() == -32601);
  c->send_text(R"({"jsonrpc":"2.0","method":"ping"})");  // a notification alone: no answer
  CHECK_FALSE(c->next(500ms));
}

TEST_CASE("storage thresholds on a small real filesystem: -1010 at block - -1008 when a duration will not fit at warn - running captures stop at block",
          "[daemon][rpc][storage][seed003]") {
  TempDir dir;
  const auto mnt = dir.path() / "small";
  std::filesystem::create_directories(mnt);
  INFO("mounting a tmpfs needs root: " << std::strerror(errno));
  REQUIRE(::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=16m") == 0);
  struct Unmount {
    std::filesystem::path p;
    ~Unmount() { ::umount2(p.c_str(), MNT_DETACH); }
  } unmount{mnt};
  const auto fill = [&](std::size_t mib) {
    std::ofstream f(mnt / "filler", std::ios::binary | std::ios::trunc);
    const std::string block(1024 * 1024, 'f');
    for (std::size_t i = 0; i < mib; ++i) f << block;
  };
  {
    fill(15);  // about 94 % used: block
    RunningDaemon d(Settings{{"capture.devices", "camera0=test"}}, mnt / "data");
    auto c = d.connect("/rpc");
    auto refused = call(*c, req(1, "start_recording", R"({"device":"camera0"})"));
    CHECK(error_code(refused) == -1010);
    CHECK(std::string(refused["error"]["message"].GetString()) == "Storage space is critical");
    CHECK(refused["error"]["data"]["total_space"].GetUint64() > 0);
    CHECK(refused["error"]["data"].HasMember("available_space"));
    auto storage = call(*c, req(2, "get_storage_info"));
    CHECK(std::string(storage["result"]["level"].GetString()) == "block");
  }
  {
    fill(13);  // about 82 % used: warn
    RunningDaemon d(Settings{{"capture.devices", "camera0=test;camera1=test"}}, mnt / "data");
    auto c = d.connect("/rpc");
    auto low = call(*c, req(1, "start_recording", R"({"device":"camera0","duration":3600})"));
    CHECK(error_code(low) == -1008);
    CHECK(std::string(low["error"]["message"].GetString()) == "Storage space is low");
    auto fine = call(*c, req(2, "start_recording", R"({"device":"camera1"})"));
    CHECK(fine.HasMember("result"));
    auto status = call(*c, req(3, "get_camera_status", R"({"device":"camera1"})"));
    CHECK(status["result"]["storage_warning"].GetBool());
  }
  {
    fill(8);  // about 50 % used: a capture runs, then the disk fills past block
    RunningDaemon d(Settings{{"capture.devices", "camera0=test"}, {"storage.check_interval_seconds", "1"},
                             {"capture.rotation_seconds", "1"}, {"capture.keyframe_seconds", "1"}},
                    mnt / "data");
    auto c = d.connect("/rpc");
    auto started = call(*c, req(1, "start_recording", R"({"device":"camera0"})"));
    const std::string session = started["result"]["session_id"].GetString();
    const auto until = std::chrono::steady_clock::now() + 20s;
    while (core::segment_count(d.get(session)) < 1 && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(50ms);
    REQUIRE(core::segment_count(d.get(session)) >= 1);
    fill(15);
    const auto r = d.wait_finished(session, 20s);
    CHECK(r.stop_reason == core::StopReason::storage_critical);
    CHECK(r.state == core::State::ready);
    REQUIRE_FALSE(r.files.empty());
    for (const auto& f : r.files) {
      INFO(f.path);
      auto info = adapters::gstreamer::probe(mnt / "data" / f.path);
      CHECK(info);
    }
  }
}
