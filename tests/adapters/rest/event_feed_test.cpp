// The dashboard's feed (/ws/events) on the core's fakes: who may watch, what a watcher is
// sent and in which order, and how a page tells a newer copy of a recording from an older.

#include <catch2/catch.hpp>

#include <rapidjson/document.h>

#include "recorder/adapters/rest/event_feed.hpp"
#include "recorder/testing/fakes.hpp"

using namespace recorder;
using namespace recorder::core;
using namespace recorder::testing;
using namespace std::chrono_literals;

namespace {

// A watcher's connection: what it was sent, and how it was closed.
struct Watcher final : adapters::websocket::Outbox {
  std::vector<std::string> sent;
  std::optional<std::uint16_t> closed;
  void send_text(std::string text) override { sent.push_back(std::move(text)); }
  void close(std::string, std::uint16_t code) override { closed = code; }

  rapidjson::Document message(std::size_t i) const {
    rapidjson::Document d;
    d.Parse(sent.at(i).c_str());
    REQUIRE_FALSE(d.HasParseError());
    return d;
  }
  std::string type(std::size_t i) const { return message(i)["type"].GetString(); }
};

struct Rig {
  Harness h;
  MemoryTokens tokens;
  CountingSecrets secrets;
  AccessService access{tokens, secrets, h.clock};
  WebhookHealth hook{};
  adapters::rest::EventFeed feed{adapters::rest::EventFeedContext{
      h.service, access, h.repository, h.clock, nullptr, nullptr, {core::Device{"cam1", {}, "test"}},
      [this] { return std::vector<WebhookHealth>{hook}; }, 1000ms, 10000ms, 3600, 50}};

  Rig() {
    hook.endpoint.name = "ops";
    hook.endpoint.url = "https://hooks.example.com/secret-path";
    REQUIRE(h.repository.add_subscriber(feed.name()));
  }
  std::string token(Role role) { return access.create("t", role)->secret; }
  std::shared_ptr<Watcher> join(Role role) {
    auto w = std::make_shared<Watcher>();
    feed.opened(w);
    feed.sign_in(w, token(role));
    return w;
  }
  void chunk(const RecordingId& id, ChunkIndex i) { REQUIRE(h.service.receive_chunk(id, i, bytes_of("<chunk>"))); }
  // Hands the outbox's new notices to the feed, as the dispatcher does.
  void dispatch() {
    auto pending = h.repository.undelivered(feed.name(), 100);
    REQUIRE(pending);
    std::vector<std::uint64_t> seqs;
    for (const auto& e : *pending) {
      REQUIRE(feed.deliver(e));
      seqs.push_back(e.seq);
    }
    REQUIRE(h.repository.mark_delivered(feed.name(), seqs));
  }
};

const rapidjson::Value* find_recording(const rapidjson::Value& list, const std::string& id) {
  for (const auto& r : list.GetArray())
    if (r["id"].GetString() == id) return &r;
  return nullptr;
}

}  // namespace

TEST_CASE("a bad token is told why and closed - a good one of any role gets a snapshot first", "[feed]") {
  Rig rig;
  auto bad = std::make_shared<Watcher>();
  rig.feed.opened(bad);
  rig.feed.sign_in(bad, "rec_nobody_secret");
  REQUIRE(bad->sent.size() == 1);
  CHECK(bad->type(0) == "error");
  CHECK(std::string(bad->message(0)["code"].GetString()) == "unauthenticated");
  CHECK(bad->closed == 4401);
  CHECK(rig.feed.watchers() == 0);

  REQUIRE(rig.h.service.start_stream(StreamStart{"talk", "", "video/webm", "", {}}));
  auto viewer = rig.join(Role::viewer);
  REQUIRE(viewer->sent.size() == 1);
  const auto snap = viewer->message(0);
  CHECK(std::string(snap["type"].GetString()) == "snapshot");
  CHECK(std::string(snap["role"].GetString()) == "viewer");
  REQUIRE(find_recording(snap["recordings"], "talk"));
  CHECK(std::string((*find_recording(snap["recordings"], "talk"))["state"].GetString()) == "recording");
  CHECK(snap["storage"].IsObject());
  // The webhooks' health (with URLs) is an admin's, as GET /api/webhooks is.
  CHECK(snap["webhooks"].GetArray().Empty());
  auto admin = rig.join(Role::admin);
  CHECK(admin->message(0)["webhooks"].GetArray().Size() == 1);
  CHECK(rig.feed.watchers() == 2);
  CHECK_FALSE(viewer->closed);
}

TEST_CASE("while the store is down a token cannot be checked - the watcher is told to come back - not refused", "[feed]") {
  Rig rig;
  const std::string token = rig.token(Role::viewer);
  rig.tokens.down = true;
  auto w = std::make_shared<Watcher>();
  rig.feed.opened(w);
  rig.feed.sign_in(w, token);
  REQUIRE(w->sent.size() == 1);
  CHECK(std::string(w->message(0)["code"].GetString()) == "unavailable");
  CHECK(w->closed == 1013);  // try again later: the page reconnects, it does not sign out
  rig.tokens.down = false;
  auto again = rig.join(Role::viewer);
  CHECK(again->type(0) == "snapshot");
}

TEST_CASE("a connection that does not sign in in time is closed - before that it is sent nothing", "[feed]") {
  Rig rig;
  auto quiet = std::make_shared<Watcher>();
  rig.feed.opened(quiet);
  auto member = rig.join(Role::viewer);
  rig.feed.tick();
  CHECK(quiet->sent.empty());
  CHECK_FALSE(quiet->closed);
  rig.h.clock.advance(10s);
  rig.feed.tick();
  REQUIRE(quiet->closed == 4401);
  CHECK(quiet->type(0) == "error");
  CHECK_FALSE(member->closed);
}

TEST_CASE("ticks carry what changed - new recordings in full - progress by revision - those no longer live", "[feed]") {
  Rig rig;
  REQUIRE(rig.h.service.start_stream(StreamStart{"a", "", "video/webm", "", {}}));
  REQUIRE(rig.h.service.start_stream(StreamStart{"b", "", "video/webm", "", {}}));
  auto w = rig.join(Role::operator_);
  rig.feed.tick();  // the first: everything is new to the tick
  rig.h.clock.advance(1s);
  rig.chunk("a", 0);
  rig.chunk("a", 1);
  REQUIRE(rig.h.service.start_stream(StreamStart{"c", "", "video/webm", "", {}}));
  rig.feed.tick();
  const auto tick = w->message(w->sent.size() - 1);
  REQUIRE(std::string(tick["type"].GetString()) == "tick");
  const auto* a = find_recording(tick["recordings"], "a");
  REQUIRE(a);
  CHECK((*a)["bytes"].GetUint64() == 14);
  CHECK((*a)["chunks"].GetUint64() == 2);
  CHECK((*a)["revision"].GetUint64() == rig.h.get("a").revision);
  CHECK_FALSE(a->HasMember("kind"));  // progress only
  CHECK(find_recording(tick["recordings"], "b") == nullptr);  // unchanged
  const auto* c = find_recording(tick["recordings"], "c");
  REQUIRE(c);
  CHECK(std::string((*c)["kind"].GetString()) == "stream");  // new: in full
  CHECK(tick["active"].GetUint64() == 3);
  CHECK(tick["ingest_bps"].GetDouble() == Approx(14.0));

  REQUIRE(rig.h.service.stop("b"));
  rig.h.finalize_ok("b");
  rig.feed.tick();
  const auto after = w->message(w->sent.size() - 1);
  REQUIRE(after["gone"].GetArray().Size() == 1);
  CHECK(std::string(after["gone"][0].GetString()) == "b");
}

TEST_CASE("notices reach signed-in watchers in order - a late notice is older than the snapshot by its revision", "[feed]") {
  Rig rig;
  REQUIRE(rig.h.service.start_stream(StreamStart{"talk", "", "video/webm", "", {}}));
  auto early = std::make_shared<Watcher>();
  rig.feed.opened(early);  // not signed in: it is handed nothing
  rig.chunk("talk", 0);
  rig.chunk("talk", 1);
  auto w = rig.join(Role::viewer);
  const std::uint64_t in_snapshot = (*find_recording(w->message(0)["recordings"], "talk"))["revision"].GetUint64();
  rig.dispatch();  // the started notice, committed before the snapshot, arrives after it
  REQUIRE(w->sent.size() == 2);
  const auto started = w->message(1);
  CHECK(std::string(started["type"].GetString()) == "notice");
  CHECK(std::string(started["notice"]["type"].GetString()) == "recording.started");
  CHECK(started["notice"]["data"]["revision"].GetUint64() < in_snapshot);
  CHECK(early->sent.empty());

  REQUIRE(rig.h.service.stop("talk"));
  rig.h.finalize_ok("talk");
  rig.dispatch();
  std::vector<std::string> types;
  std::uint64_t last = 0;
  for (std::size_t i = 2; i < w->sent.size(); ++i) {
    const auto m = w->message(i);
    types.emplace_back(m["notice"]["type"].GetString());
    CHECK(m["notice"]["data"]["revision"].GetUint64() > last);
    last = m["notice"]["data"]["revision"].GetUint64();
  }
  CHECK(types == std::vector<std::string>{"recording.stopped", "recording.ready"});
  CHECK(last == rig.h.get("talk").revision);
}

TEST_CASE("a watcher whose connection is gone is dropped - the others go on", "[feed]") {
  Rig rig;
  auto stays = rig.join(Role::viewer);
  {
    auto goes = rig.join(Role::viewer);
    CHECK(rig.feed.watchers() == 2);
  }
  rig.feed.tick();
  CHECK(rig.feed.watchers() == 1);
  CHECK(stays->type(stays->sent.size() - 1) == "tick");
  rig.feed.closed(stays.get());
  CHECK(rig.feed.watchers() == 0);
}

TEST_CASE("cameras and agents go out when what is busy changes - else every 10 ticks", "[feed]") {
  Rig rig;
  auto w = rig.join(Role::viewer);
  CHECK(w->message(0)["devices"].GetArray().Size() == 1);  // in the snapshot
  const auto has_devices = [&] { return w->message(w->sent.size() - 1).HasMember("devices"); };
  rig.feed.tick();
  CHECK(has_devices());  // the first tick after nobody watched
  rig.feed.tick();
  CHECK_FALSE(has_devices());
  REQUIRE(rig.h.service.start_capture(CaptureStart{"cam1", "mp4", std::nullopt, "", ""}));
  rig.feed.tick();
  REQUIRE(has_devices());  // cam1 became busy
  CHECK(w->message(w->sent.size() - 1)["devices"][0]["recording"].GetBool());
  std::size_t sent = 0;
  for (int i = 0; i < 10; ++i) {
    rig.feed.tick();
    if (has_devices()) ++sent;
  }
  CHECK(sent == 1);  // unchanged: refreshed once in 10 ticks
}
