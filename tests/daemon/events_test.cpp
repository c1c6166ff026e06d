// /ws/events in the running daemon: real WebSocket clients over loopback sign in every way
// the protocol allows, and see a stream start, grow and finish (snapshot, ticks, outbox
// notices) while the daemon's threads (the listener's strands, the tick thread, the
// dispatcher) all send to them. Also run under TSan.

#include <catch2/catch.hpp>

#include "api_client.hpp"
#include "daemon_fixture.hpp"
#include "json_util.hpp"
#include "recorder/testing/ws_client.hpp"

using namespace recorder;
using namespace recorder::testing;
using namespace std::chrono_literals;

namespace {

std::unique_ptr<WsClient> open_events(const RunningDaemon& d, const std::string& query = "",
                                      const std::vector<std::pair<std::string, std::string>>& headers = {}) {
  std::string error;
  auto c = WsClient::connect("ws://127.0.0.1:" + std::to_string(d.daemon->port()) + "/ws/events" + query, error, 5s, headers);
  INFO(error);
  REQUIRE(c);
  return c;
}

std::string type_of(const std::string& text) {
  auto doc = parse_json(text);
  return doc.IsObject() && doc.HasMember("type") ? doc["type"].GetString() : "";
}

}  // namespace

TEST_CASE("/ws/events: a token signs in by header - query - or first message - a bad one is closed with 4401", "[daemon][events]") {
  RunningDaemon d{{{"auth.ingest", "token"}}};  // the feed's sign-in does not depend on it
  const std::string admin = admin_token(d);
  Api api{d};
  auto made = api.call("POST", "/api/tokens", admin, R"({"name":"wall","role":"viewer"})");
  REQUIRE(made.status == 201);
  const std::string viewer = parse_json(made.body)["token"].GetString();

  auto by_header = open_events(d, "", {{"Authorization", "Bearer " + viewer}});
  auto snap = by_header->next_containing("\"snapshot\"");
  REQUIRE(snap);
  CHECK(std::string(parse_json(*snap)["role"].GetString()) == "viewer");

  auto by_query = open_events(d, "?access_token=" + viewer);
  REQUIRE(by_query->next_containing("\"snapshot\""));

  auto by_message = open_events(d);
  by_message->send_text(R"({"type":"hello"})");
  auto refused = by_message->next(5s);
  REQUIRE(refused);
  CHECK(type_of(refused->payload) == "error");
  CHECK(refused->payload.find("auth") != std::string::npos);
  by_message->send_text(R"({"type":"auth","token":")" + viewer + R"("})");
  REQUIRE(by_message->next_containing("\"snapshot\""));

  auto bad = open_events(d);
  bad->send_text(R"({"type":"auth","token":"rec_AAAAAAAAAAAA_notthesecret"})");
  auto told = bad->next(5s);
  REQUIRE(told);
  CHECK(told->payload.find("\"unauthenticated\"") != std::string::npos);
  CHECK(bad->wait_closed(5s) == 4401);
}

TEST_CASE("/ws/events: a stream's start - its progress - and its end reach a watcher, newest revision last", "[daemon][events]") {
  RunningDaemon d;
  auto watcher = open_events(d);
  watcher->send_text(R"({"type":"auth","token":")" + admin_token(d) + R"("})");
  auto snap = watcher->next_containing("\"snapshot\"");
  REQUIRE(snap);
  CHECK(parse_json(*snap)["recordings"].GetArray().Empty());

  std::string error;
  auto client = WsClient::connect("ws://127.0.0.1:" + std::to_string(d.daemon->port()) + "/ws/record", error);
  REQUIRE(client);
  client->send_text(event_json("start", "talk"));
  REQUIRE(client->next_containing("started"));
  for (int i = 0; i < 3; ++i) {
    client->send_text(chunk_json("talk", static_cast<std::uint64_t>(i), "AAAA"));
    REQUIRE(client->next_containing("chunkAck"));
  }
  // The notice, and a tick with its progress (3 chunks of 3 bytes).
  REQUIRE(watcher->next_containing("recording.started"));
  std::uint64_t progress_revision = 0;
  const auto until = std::chrono::steady_clock::now() + 5s;
  while (progress_revision == 0 && std::chrono::steady_clock::now() < until) {
    auto tick = watcher->next_containing("\"tick\"", 3s);
    REQUIRE(tick);
    auto doc = parse_json(*tick);
    for (const auto& r : doc["recordings"].GetArray()) {
      if (std::string(r["id"].GetString()) == "talk" && r["chunks"].GetUint64() == 3) {
        CHECK(r["bytes"].GetUint64() == 9);
        progress_revision = r["revision"].GetUint64();
      }
    }
  }
  REQUIRE(progress_revision > 0);

  client->send_text(event_json("stop", "talk"));
  REQUIRE(client->next_containing("recordingReady"));
  auto ready = watcher->next_containing("recording.ready", 10s);
  REQUIRE(ready);
  auto doc = parse_json(*ready);
  CHECK(doc["notice"]["data"]["revision"].GetUint64() > progress_revision);
  CHECK(std::string(doc["notice"]["data"]["state"].GetString()) == "ready");
  // A watcher that signs in now sees nothing live: the finished stream is not in its snapshot.
  auto later = open_events(d, "?access_token=" + admin_token(d));
  auto again = later->next_containing("\"snapshot\"");
  REQUIRE(again);
  CHECK(parse_json(*again)["recordings"].GetArray().Empty());
}
