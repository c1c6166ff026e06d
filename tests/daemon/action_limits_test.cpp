// Seed 002's limit messages with the default limits (1MB, 500MB, 1 hour), on a simulated
// clock: the dialect session over the core with fakes, no sockets.

#include <catch2/catch.hpp>

#include "../../libs/adapters/websocket/src/dialect.hpp"
#include "json_util.hpp"
#include "recorder/testing/fakes.hpp"

using namespace recorder;
using namespace recorder::testing;
using namespace std::chrono_literals;

namespace {

struct CapturingOutbox final : adapters::websocket::Outbox, adapters::websocket::SessionHost {
  std::vector<std::string> sent;
  void send_text(std::string text) override { sent.push_back(std::move(text)); }
  void watch(const core::RecordingId&) override {}
  std::string download_url(const std::string& path) const override { return "http://test/" + path; }
  std::string last_error() const {
    for (auto it = sent.rbegin(); it != sent.rend(); ++it) {
      auto d = parse_json(*it);
      if (std::string(d["type"].GetString()) == "error") return d["message"].GetString();
    }
    return "";
  }
};

}  // namespace

TEST_CASE("the default limits read exactly as seed 002 wrote them", "[action][seed002]") {
  Harness h;
  CapturingOutbox out;
  auto session = adapters::websocket::make_action_session({h.service, out, out, core::StreamLimits{}}, "s");
  session->on_text(R"({"action":"start","format":"wav"})");
  REQUIRE(out.last_error().empty());

  session->on_binary(std::string(1024 * 1024 + 1, 'x'));
  CHECK(out.last_error() == "Chunk size exceeds limit (1MB)");

  const std::string mib(1024 * 1024, 'y');
  for (int i = 0; i < 500; ++i) session->on_binary(std::string(mib));
  REQUIRE(out.last_error() == "Chunk size exceeds limit (1MB)");  // nothing new so far
  session->on_binary("z");
  CHECK(out.last_error() == "Total data size exceeds limit (500MB)");

  Harness h2;
  CapturingOutbox out2;
  auto timed = adapters::websocket::make_action_session({h2.service, out2, out2, core::StreamLimits{}}, "t");
  timed->on_text(R"({"action":"start","format":"mp4"})");
  timed->on_binary("a");
  h2.run_for(3600s);
  timed->on_binary("b");
  CHECK(out2.last_error() == "Recording duration exceeds limit (1 hour)");
}
