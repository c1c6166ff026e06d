// recorderd is SIGKILLed while several clients stream into it; it is started again; each
// client resumes with start on its recordId, learns nextIndex and missingChunks, sends the
// rest and stops; every final file is byte-identical to what was sent.

#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <fstream>
#include <iterator>
#include <regex>
#include <thread>

#include <rapidjson/document.h>

#include "recorder/testing/chunk_content.hpp"
#include "recorder/testing/process.hpp"
#include "recorder/testing/temp_dir.hpp"
#include "recorder/testing/ws_client.hpp"

using namespace recorder;
using namespace std::chrono_literals;

namespace {

std::string b64(const std::vector<std::byte>& in) {
  static constexpr char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  const auto at = [&](std::size_t k) { return static_cast<unsigned>(in[k]); };
  for (; i + 2 < in.size(); i += 3) {
    const unsigned n = (at(i) << 16) | (at(i + 1) << 8) | at(i + 2);
    out += {t[(n >> 18) & 63], t[(n >> 12) & 63], t[(n >> 6) & 63], t[n & 63]};
  }
  if (i + 1 == in.size()) {
    const unsigned n = at(i) << 16;
    out += {t[(n >> 18) & 63], t[(n >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    const unsigned n = (at(i) << 16) | (at(i + 1) << 8);
    out += {t[(n >> 18) & 63], t[(n >> 12) & 63], t[(n >> 6) & 63], '='};
  }
  return out;
}

std::size_t size_for(std::uint64_t i) { return 20000 + (i * 7919) % 40000; }

std::string chunk_message(const std::string& id, std::uint64_t i) {
  return R"({"event":"chunk","data":{"recordId":")" + id + R"(","index":)" + std::to_string(i) + R"(,"data":")" +
         b64(testing::chunk_content(id, i, size_for(i))) + R"("}})";
}

// Starts recorderd and returns its pid and the port it logged.
std::pair<pid_t, int> start_daemon(const std::filesystem::path& data, const std::filesystem::path& log) {
  const pid_t pid = testing::spawn({RECORDERD, "--data-dir", data.string(), "--listen", "127.0.0.1:0", "--set",
                                    "limits.grace_seconds=60"},
                                   log);
  REQUIRE(testing::wait_for_text(log, "msg=\"recorderd started\"", testing::count_in_file(log, "recorderd started") + 1,
                                 20s));
  std::ifstream in(log);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::regex listen(R"(listen=127\.0\.0\.1:(\d+))");
  std::string last;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), listen); it != std::sregex_iterator(); ++it)
    last = (*it)[1];
  REQUIRE_FALSE(last.empty());
  return {pid, std::stoi(last)};
}

rapidjson::Document parse(const std::string& s) {
  rapidjson::Document d;
  d.Parse(s.c_str(), s.size());
  return d;
}

}  // namespace

TEST_CASE("clients streaming into a SIGKILLed daemon resume after its restart and lose nothing",
          "[integration][crash][daemon]") {
  testing::TempDir dir;
  const auto log = dir.path() / "recorderd.log";
  const int clients = 4;
  auto [pid, port] = start_daemon(dir.path() / "data", log);

  std::vector<std::atomic<std::uint64_t>> acked(clients);
  std::vector<std::thread> threads;
  std::atomic<int> connected{0};
  for (int k = 0; k < clients; ++k) {
    threads.emplace_back([&, k, p = port] {
      const std::string id = "crash-" + std::to_string(k);
      std::string error;
      auto c = testing::WsClient::connect("ws://127.0.0.1:" + std::to_string(p) + "/ws/record", error);
      if (!c) return;
      c->send_text(R"({"event":"start","data":{"recordId":")" + id + R"("}})");
      if (!c->next_containing("\"started\"")) return;
      ++connected;
      for (std::uint64_t i = 0;; ++i) {
        c->send_text(chunk_message(id, i));
        auto ack = c->next_containing("chunkAck", 3s);
        if (!ack) return;  // the daemon is gone
        acked[static_cast<std::size_t>(k)] = i + 1;
      }
    });
  }
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (connected < clients && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(10ms);
  REQUIRE(connected == clients);
  // Let every client have a few chunks acknowledged; the kill lands wherever they are then.
  const auto streaming_until = std::chrono::steady_clock::now() + 30s;
  const auto all_streaming = [&] {
    return std::ranges::all_of(acked, [](const auto& a) { return a.load() >= 3; });
  };
  while (!all_streaming() && std::chrono::steady_clock::now() < streaming_until) std::this_thread::sleep_for(10ms);
  REQUIRE(all_streaming());
  ::kill(pid, SIGKILL);
  REQUIRE(testing::wait_exit(pid, 10s));
  for (auto& t : threads) t.join();

  auto [pid2, port2] = start_daemon(dir.path() / "data", log);
  CHECK(testing::count_in_file(log, "recovered=" + std::to_string(clients)) == 1);
  for (int k = 0; k < clients; ++k) {
    const std::string id = "crash-" + std::to_string(k);
    INFO(id << " had " << acked[static_cast<std::size_t>(k)] << " chunks acknowledged");
    CHECK(acked[static_cast<std::size_t>(k)] > 0);
    std::string error;
    auto c = testing::WsClient::connect("ws://127.0.0.1:" + std::to_string(port2) + "/ws/record", error);
    REQUIRE(c);
    c->send_text(R"({"event":"start","data":{"recordId":")" + id + R"("}})");
    auto started = c->next_containing("\"started\"");
    REQUIRE(started);
    auto doc = parse(*started);
    CHECK(doc["data"]["resumed"].GetBool());
    const std::uint64_t next = doc["data"]["nextIndex"].GetUint64();
    CHECK(next >= acked[static_cast<std::size_t>(k)]);  // every acknowledged chunk survived
    CHECK(doc["data"]["missingChunks"].GetArray().Size() == 0);
    for (std::uint64_t i = next; i < next + 5; ++i) {
      c->send_text(chunk_message(id, i));
      REQUIRE(c->next_containing("chunkAck"));
    }
    c->send_text(R"({"event":"stop","data":{"recordId":")" + id + R"("}})");
    auto ready = c->next_containing("recordingReady");
    REQUIRE(ready);
    const std::string url = parse(*ready)["data"]["downloadUrl"].GetString();
    auto file = testing::http_get(url);
    REQUIRE(file.status == 200);
    std::string expected;
    for (std::uint64_t i = 0; i < next + 5; ++i) {
      for (std::byte b : testing::chunk_content(id, i, size_for(i))) expected.push_back(static_cast<char>(b));
    }
    CHECK(file.body.size() == expected.size());
    CHECK(file.body == expected);
  }
  ::kill(pid2, SIGTERM);
  auto status = testing::wait_exit(pid2, 20s);
  REQUIRE(status);
  CHECK(WIFEXITED(*status));
  CHECK(WEXITSTATUS(*status) == 0);
}
