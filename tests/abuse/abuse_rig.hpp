#pragma once

// The abuse suite's rig: the real recorderd binary on a temporary data directory, an honest
// client streaming into it the whole time, and the checks every case ends with — the
// daemon is alive and answers, its RSS stayed bounded, and the honest client lost nothing
// and was not slowed past a stated bound.

#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <iterator>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <rapidjson/document.h>

#include "recorder/testing/process.hpp"
#include "recorder/testing/temp_dir.hpp"
#include "recorder/testing/ws_client.hpp"

namespace recorder::testing {

// What an honest client may suffer while others abuse the daemon: every ack within this.
inline constexpr double kHonestP99Ms = 250;
// recorderd's resident set after any case (it starts at about 20 MiB). Under ASan its
// quarantine alone keeps up to 256 MiB of freed memory (measured: 52 MiB without, 330 MiB
// with, for the same case).
#if defined(__SANITIZE_ADDRESS__)
inline constexpr long kRssBoundKib = 640 * 1024;
#else
inline constexpr long kRssBoundKib = 256 * 1024;
#endif

inline rapidjson::Document parse_json(const std::string& s) {
  rapidjson::Document d;
  d.Parse(s.c_str(), s.size());
  return d;
}

// Streams 16 KiB chunks every 20 ms into one recording on /ws/record until finish().
class HonestClient {
 public:
  HonestClient(int port, std::string id) : port_(port), id_(std::move(id)) {
    std::string error;
    client_ = WsClient::connect("ws://127.0.0.1:" + std::to_string(port) + "/ws/record", error);
    REQUIRE(client_);
    client_->send_text(R"({"event":"start","data":{"recordId":")" + id_ + R"("}})");
    REQUIRE(client_->next_containing("\"started\""));
    thread_ = std::thread([this] { run(); });
  }
  ~HonestClient() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }

  // Waits until the first chunk is acknowledged: the recording's files are open then.
  void wait_first_ack() {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (sent_ < 1 && failures_ == 0 && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    REQUIRE(sent_ >= 1);
  }

  // Stops streaming and the recording; checks that every chunk was acknowledged in time
  // and that the finished file is exactly what was sent.
  void finish() {
    // At least ten chunks, so that the stream overlapped the abuse and there is a tail.
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (sent_ < 10 && failures_ == 0 && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    stop_ = true;
    thread_.join();
    INFO("honest client: " << sent_.load() << " chunks sent, " << failures_.load() << " without an ack");
    CHECK(failures_ == 0);
    CHECK(sent_ >= 10);
    std::ranges::sort(latency_ms_);
    const double p99 = latency_ms_.empty() ? 0 : latency_ms_[latency_ms_.size() * 99 / 100];
    INFO("ack p99 " << p99 << " ms, max " << (latency_ms_.empty() ? 0 : latency_ms_.back()) << " ms");
    CHECK(p99 <= kHonestP99Ms);
    client_->send_text(R"({"event":"stop","data":{"recordId":")" + id_ + R"("}})");
    auto ready = client_->next_containing("recordingReady", std::chrono::seconds(20));
    REQUIRE(ready);
    auto file = http_get(parse_json(*ready)["data"]["downloadUrl"].GetString());
    REQUIRE(file.status == 200);
    CHECK(file.body == expected_);
  }

 private:
  void run() {
    for (std::uint64_t i = 0; !stop_; ++i) {
      const std::string chunk(16 * 1024, static_cast<char>('a' + i % 26));
      const auto at = std::chrono::steady_clock::now();
      client_->send_binary(chunk);
      if (!client_->next_containing("chunkAck", std::chrono::seconds(5))) {
        ++failures_;
        return;
      }
      latency_ms_.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - at).count());
      expected_ += chunk;
      ++sent_;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  int port_;
  std::string id_;
  std::unique_ptr<WsClient> client_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::vector<double> latency_ms_;
  std::string expected_;
  std::atomic<std::uint64_t> sent_{0};
  std::atomic<std::uint64_t> failures_{0};
};

struct Rig {
  // `prefix` runs recorderd through another program (prlimit, to lower its file limit).
  // `args` are more recorderd arguments (--set key=value).
  explicit Rig(const std::vector<std::string>& prefix = {}, const std::vector<std::string>& args = {}) {
    auto started = start_recorderd(RECORDERD, dir.path() / "data", log, args, std::chrono::seconds(20), prefix);
    REQUIRE(started);
    pid = started->pid;
    port = started->port;
    honest = std::make_unique<HonestClient>(port, "honest");
  }
  ~Rig() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      wait_exit(pid, std::chrono::seconds(10));
    }
  }

  std::string ws(const std::string& path) const { return "ws://127.0.0.1:" + std::to_string(port) + path; }
  std::unique_ptr<WsClient> connect(const std::string& path) const {
    std::string error;
    auto c = WsClient::connect(ws(path), error);
    INFO(error);
    REQUIRE(c);
    return c;
  }

  // The checks every case ends with; then recorderd stops cleanly.
  void finish() {
    CHECK(::kill(pid, 0) == 0);
    const long rss = rss_kib(pid);
    INFO("recorderd RSS " << rss / 1024 << " MiB");
    CHECK(rss > 0);
    CHECK(rss <= kRssBoundKib);
    auto health = http_get("http://127.0.0.1:" + std::to_string(port) + "/healthz");
    CHECK(health.status == 200);
    honest->finish();
    ::kill(pid, SIGTERM);
    auto status = wait_exit(pid, std::chrono::seconds(20));
    REQUIRE(status);
    pid = 0;
    std::ifstream in(log);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    INFO("the end of recorderd's log:\n" << text.substr(text.size() > 30000 ? text.size() - 30000 : 0));
    CHECK(WIFEXITED(*status));
    CHECK(WEXITSTATUS(*status) == 0);
  }

  TempDir dir;
  std::filesystem::path log = dir.path() / "recorderd.log";
  pid_t pid = 0;
  int port = 0;
  std::unique_ptr<HonestClient> honest;
};

}  // namespace recorder::testing
