#pragma once

// recorderd in-process on a free loopback port and a temporary data directory, with real
// WebSocket clients: the same composition as the binary (recorder::daemon).

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "daemon.hpp"
#include "recorder/testing/temp_dir.hpp"
#include "recorder/testing/ws_client.hpp"

namespace recorder::testing {

inline std::string base64(std::string_view in) {
  static constexpr char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const auto n = (static_cast<unsigned>(static_cast<unsigned char>(in[i])) << 16) |
                   (static_cast<unsigned>(static_cast<unsigned char>(in[i + 1])) << 8) |
                   static_cast<unsigned>(static_cast<unsigned char>(in[i + 2]));
    out += {table[(n >> 18) & 63], table[(n >> 12) & 63], table[(n >> 6) & 63], table[n & 63]};
  }
  if (i + 1 == in.size()) {
    const auto n = static_cast<unsigned>(static_cast<unsigned char>(in[i])) << 16;
    out += {table[(n >> 18) & 63], table[(n >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    const auto n = (static_cast<unsigned>(static_cast<unsigned char>(in[i])) << 16) |
                   (static_cast<unsigned>(static_cast<unsigned char>(in[i + 1])) << 8);
    out += {table[(n >> 18) & 63], table[(n >> 12) & 63], table[(n >> 6) & 63], '='};
  }
  return out;
}

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

using Settings = std::vector<std::pair<std::string, std::string>>;

struct RunningDaemon {
  explicit RunningDaemon(Settings settings = {},
                         const std::filesystem::path& data = {}) {
    core::ConfigBuilder b;
    REQUIRE(b.set("server.listen", "127.0.0.1:0", "test"));
    REQUIRE(b.set("server.data_dir", (data.empty() ? dir.path() : data).string(), "test"));
    REQUIRE(b.set("limits.grace_seconds", "1", "test"));
    REQUIRE(b.set("log.level", "warn", "test"));
    for (const auto& [k, v] : settings) REQUIRE(b.set(k, v, "test"));
    auto config = b.build();
    REQUIRE(config);
    auto started = app::Daemon::start(*config);
    INFO((started ? "" : started.error().message));
    REQUIRE(started);
    daemon = std::move(*started);
  }

  std::string url(const std::string& path) const {
    return "ws://127.0.0.1:" + std::to_string(daemon->port()) + path;
  }

  std::unique_ptr<WsClient> connect(const std::string& path) const {
    std::string error;
    auto c = WsClient::connect(url(path), error);
    INFO(error);
    REQUIRE(c);
    return c;
  }

  core::Recording get(const std::string& id) const {
    auto r = daemon->service().get(id);
    INFO((r ? "" : r.error().message));
    REQUIRE(r);
    return *r;
  }

  // Waits until the recording is in a terminal state.
  core::Recording wait_finished(const std::string& id, std::chrono::milliseconds deadline = std::chrono::seconds(15)) const {
    const auto until = std::chrono::steady_clock::now() + deadline;
    for (;;) {
      auto r = daemon->service().get(id);
      if (r && core::is_terminal(r->state)) return *r;
      if (std::chrono::steady_clock::now() >= until) {
        FAIL("recording " << id << " did not finish; state " << (r ? core::to_string(r->state) : "unknown"));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  TempDir dir;
  std::unique_ptr<app::Daemon> daemon;
};

}  // namespace recorder::testing
