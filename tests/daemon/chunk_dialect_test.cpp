// /ws/record over a real WebSocket (seed 001's manual scenarios 1-4, and bad input).

#include <thread>

#include "daemon_fixture.hpp"
#include "json_util.hpp"

using namespace recorder;
using namespace recorder::testing;
using namespace std::chrono_literals;

namespace {

std::string payload(const std::string& id, std::uint64_t i) {
  std::string s = "chunk " + std::to_string(i) + " of " + id + " ";
  s.resize(2000 + i * 37, static_cast<char>('a' + i % 26));
  return s;
}

std::string payloads(const std::string& id, std::uint64_t from, std::uint64_t to) {
  std::string out;
  for (auto i = from; i < to; ++i) out += payload(id, i);
  return out;
}

void send_acked(WsClient& c, const std::string& id, std::uint64_t from, std::uint64_t to) {
  for (auto i = from; i < to; ++i) {
    c.send_text(chunk_json(id, i, base64(payload(id, i))));
    auto ack = c.next_containing("chunkAck");
    REQUIRE(ack);
    auto d = parse_json(*ack);
    CHECK(d["data"]["index"].GetUint64() == i);
    CHECK(d["data"]["bytes"].GetUint64() == payload(id, i).size());
    CHECK(std::string(d["data"]["recordId"].GetString()) == id);
  }
}

rapidjson::Document start(WsClient& c, const std::string& id) {
  c.send_text(R"({"event":"start","data":{"recordId":")" + id + R"(","mimeType":"video/webm"}})");
  auto started = c.next_containing("\"started\"");
  REQUIRE(started);
  return parse_json(*started);
}

}  // namespace

TEST_CASE("seed 001 scenario 1: a normal recording is ready with a download URL serving exactly what was sent",
          "[daemon][chunk][seed001]") {
  RunningDaemon d;
  auto c = d.connect("/ws/record");
  auto started = start(*c, "normal-1");
  CHECK_FALSE(started["data"]["resumed"].GetBool());
  CHECK(started["data"]["nextIndex"].GetUint64() == 0);
  send_acked(*c, "normal-1", 0, 30);
  c->send_text(event_json("stop", "normal-1"));
  auto ready = c->next_containing("recordingReady");
  REQUIRE(ready);
  auto doc = parse_json(*ready);
  const std::string url = doc["data"]["downloadUrl"].GetString();
  CHECK(doc["data"]["bytes"].GetUint64() == payloads("normal-1", 0, 30).size());
  CHECK(doc["data"]["durationSeconds"].GetDouble() >= 0.0);

  auto whole = http_get(url);
  INFO(whole.error);
  CHECK(whole.status == 200);
  CHECK(whole.body == payloads("normal-1", 0, 30));
  auto part = http_get(url, "bytes=100-199");
  CHECK(part.status == 206);
  CHECK(part.body == payloads("normal-1", 0, 30).substr(100, 100));
  CHECK(part.content_range == "bytes 100-199/" + std::to_string(whole.body.size()));
  CHECK(http_get(url, "bytes=999999999-").status == 416);
  CHECK(d.get("normal-1").state == core::State::ready);
}

TEST_CASE("seed 001 scenario 2: a connection dropped mid-recording is finalized after the grace period",
          "[daemon][chunk][seed001]") {
  RunningDaemon d;
  auto c = d.connect("/ws/record");
  start(*c, "dropped-2");
  send_acked(*c, "dropped-2", 0, 10);
  c->drop();
  const auto r = d.wait_finished("dropped-2");
  CHECK(r.state == core::State::ready);
  CHECK(r.stop_reason == core::StopReason::disconnect);
  REQUIRE(r.files.size() == 1);
  CHECK(read_file(d.dir.path() / r.files[0].path) == payloads("dropped-2", 0, 10));
}

TEST_CASE("seed 001 scenario 3: a client that reconnects within grace continues the same recording",
          "[daemon][chunk][seed001]") {
  RunningDaemon d(Settings{{"limits.grace_seconds", "5"}});
  auto c = d.connect("/ws/record");
  start(*c, "resumed-3");
  send_acked(*c, "resumed-3", 0, 10);
  c->drop();
  auto again = d.connect("/ws/record");
  auto started = start(*again, "resumed-3");
  CHECK(started["data"]["resumed"].GetBool());
  CHECK(started["data"]["nextIndex"].GetUint64() == 10);
  CHECK(started["data"]["missingChunks"].GetArray().Size() == 0);
  send_acked(*again, "resumed-3", 10, 20);
  again->send_text(event_json("stop", "resumed-3"));
  auto ready = again->next_containing("recordingReady");
  REQUIRE(ready);
  const auto r = d.get("resumed-3");
  REQUIRE(r.files.size() == 1);
  CHECK(read_file(d.dir.path() / r.files[0].path) == payloads("resumed-3", 0, 20));
}

TEST_CASE("seed 001 scenario 4: missing chunks answer recordingError with the exact list - the rest is kept",
          "[daemon][chunk][seed001]") {
  RunningDaemon d;
  auto c = d.connect("/ws/record");
  start(*c, "gaps-4");
  for (std::uint64_t i = 0; i < 30; ++i) {
    if (i == 5 || i == 12) continue;
    send_acked(*c, "gaps-4", i, i + 1);
  }
  c->send_text(event_json("stop", "gaps-4"));
  auto error = c->next_containing("recordingError");
  REQUIRE(error);
  auto doc = parse_json(*error);
  const auto& missing = doc["data"]["missingChunks"];
  REQUIRE(missing.Size() == 2);
  CHECK(missing[0].GetUint64() == 5);
  CHECK(missing[1].GetUint64() == 12);
  CHECK(doc["data"]["totalExpected"].GetUint64() == 30);
  const auto r = d.get("gaps-4");
  CHECK(r.state == core::State::failed);
  REQUIRE(r.files.size() == 1);  // the partial file stays available
  std::string expected;
  for (std::uint64_t i = 0; i < 30; ++i) {
    if (i != 5 && i != 12) expected += payload("gaps-4", i);
  }
  CHECK(read_file(d.dir.path() / r.files[0].path) == expected);
}

TEST_CASE("binary frames are chunks with the next index - a duplicate is acked and stored once", "[daemon][chunk]") {
  RunningDaemon d;
  auto c = d.connect("/ws/record");
  start(*c, "binary-5");
  for (std::uint64_t i = 0; i < 3; ++i) {
    c->send_binary(payload("binary-5", i));
    auto ack = c->next_containing("chunkAck");
    REQUIRE(ack);
    CHECK(parse_json(*ack)["data"]["index"].GetUint64() == i);
  }
  send_acked(*c, "binary-5", 1, 2);  // re-sent after a resume, say
  c->send_text(event_json("stop", "binary-5"));
  REQUIRE(c->next_containing("recordingReady"));
  CHECK(read_file(d.dir.path() / d.get("binary-5").files[0].path) == payloads("binary-5", 0, 3));
}

TEST_CASE("bad input gets a clear error and the connection stays usable", "[daemon][chunk]") {
  RunningDaemon d;
  auto c = d.connect("/ws/record");
  c->send_text("{not json");
  auto e1 = c->next_containing("\"error\"");
  REQUIRE(e1);
  CHECK(e1->find("malformed JSON") != std::string::npos);
  c->send_text(R"({"event":"dance","data":{}})");
  auto e2 = c->next_containing("\"error\"");
  REQUIRE(e2);
  CHECK(e2->find("Unknown event 'dance'") != std::string::npos);
  c->send_text(R"({"event":"start","data":{}})");
  REQUIRE(c->next_containing("needs data.recordId"));
  c->send_binary("before any start");
  REQUIRE(c->next_containing("send start first"));

  start(*c, "bad-6");
  c->send_text(R"({"event":"chunk","data":{"recordId":"bad-6","index":0,"data":"***"}})");
  auto ce = c->next_containing("chunkError");
  REQUIRE(ce);
  CHECK(ce->find("not valid base64") != std::string::npos);
  c->send_text(R"({"event":"chunk","data":{"recordId":"bad-6","index":-3,"data":"QUJD"}})");
  REQUIRE(c->next_containing("index must be a whole number"));
  c->send_text(R"({"event":"chunk","data":{"recordId":"bad-6","index":999999999,"data":"QUJD"}})");
  REQUIRE(c->next_containing("too far ahead"));
  send_acked(*c, "bad-6", 0, 2);  // still usable
  c->send_text(event_json("stop", "bad-6"));
  REQUIRE(c->next_containing("recordingReady"));
  c->send_text(chunk_json("bad-6", 2, base64("late")));
  auto late = c->next_containing("chunkError");
  REQUIRE(late);
  CHECK(late->find("accepts no more chunks") != std::string::npos);
}

TEST_CASE("a frame over the size limit closes the connection with 1009 - what came before is kept",
          "[daemon][chunk]") {
  RunningDaemon d(Settings{{"record.max_chunk_bytes", "65536"}, {"action.max_chunk_bytes", "65536"}});
  auto c = d.connect("/ws/record");
  start(*c, "big-7");
  send_acked(*c, "big-7", 0, 3);
  // The frame limit is the largest chunk of any dialect, base64-encoded in JSON, plus 64 KiB:
  // about 150 KiB here.
  c->send_binary(std::string(200 * 1024, 'x'));
  auto code = c->wait_closed(5s);
  REQUIRE(code);
  INFO(c->close_reason());
  CHECK(*code == 1009);
  const auto r = d.wait_finished("big-7");
  CHECK(r.ledger.chunk_count() == 3);
  CHECK(read_file(d.dir.path() / r.files[0].path) == payloads("big-7", 0, 3));
}

TEST_CASE("a chunk over the dialect's limit but under the frame limit is a chunkError", "[daemon][chunk]") {
  RunningDaemon d(Settings{{"record.max_chunk_bytes", "65536"}});
  auto c = d.connect("/ws/record");
  start(*c, "limit-8");
  c->send_binary(std::string(65537, 'x'));
  auto e = c->next_containing("chunkError");
  REQUIRE(e);
  CHECK(e->find("Chunk size exceeds limit") != std::string::npos);
  send_acked(*c, "limit-8", 0, 1);
}

TEST_CASE("stopping the daemon sends close frames and leaves streams resumable after a restart",
          "[daemon][chunk]") {
  testing::TempDir data;
  {
    RunningDaemon d(Settings{}, data.path());
    auto c = d.connect("/ws/record");
    start(*c, "restart-9");
    send_acked(*c, "restart-9", 0, 5);
    d.daemon->stop();
    auto code = c->wait_closed(5s);
    REQUIRE(code);
    CHECK(*code == 1001);
  }
  RunningDaemon again(Settings{{"limits.grace_seconds", "10"}}, data.path());
  CHECK(again.daemon->recovery().recovered == 1);
  auto c = again.connect("/ws/record");
  auto started = start(*c, "restart-9");
  CHECK(started["data"]["resumed"].GetBool());
  CHECK(started["data"]["nextIndex"].GetUint64() == 5);
  send_acked(*c, "restart-9", 5, 8);
  c->send_text(event_json("stop", "restart-9"));
  REQUIRE(c->next_containing("recordingReady"));
  CHECK(read_file(data.path() / again.get("restart-9").files[0].path) == payloads("restart-9", 0, 8));
}

TEST_CASE("HTTP: health - the dashboard and the recording page - and clear errors", "[daemon][http]") {
  RunningDaemon d;
  const std::string base = "http://127.0.0.1:" + std::to_string(d.daemon->port());
  auto health = http_request("GET", base + "/healthz");
  CHECK(health.status == 200);
  CHECK(health.body == "ok\n");
  // websocketpp closes HTTP connections after one answer; clients must be told.
  CHECK(health.header("connection") == "close");
  auto page = http_get(base + "/record");
  CHECK(page.status == 200);
  CHECK(page.body.find("MediaRecorder") != std::string::npos);
  // The dashboard and what it loads are compiled in; the page runs only its own scripts.
  auto dashboard = http_request("GET", base + "/");
  CHECK(dashboard.status == 200);
  CHECK(dashboard.body.find("/ws/events") == std::string::npos);  // in its script, not inline
  CHECK(dashboard.body.find("/assets/dashboard.js") != std::string::npos);
  CHECK(dashboard.header("content-security-policy").find("default-src 'self'") != std::string::npos);
  CHECK(dashboard.header("x-content-type-options") == "nosniff");
  for (const char* asset : {"/assets/dashboard.js", "/assets/dashboard.css", "/assets/uPlot.iife.min.js", "/assets/uPlot.min.css"}) {
    INFO(asset);
    auto a = http_request("GET", base + asset);
    CHECK(a.status == 200);
    CHECK(a.body.size() > 1000);
  }
  auto script = http_request("GET", base + "/assets/dashboard.js");
  CHECK(script.header("content-type") == "application/javascript; charset=utf-8");
  // Revalidated by its ETag: the same file again is 304 with no body.
  REQUIRE_FALSE(script.header("etag").empty());
  auto again = http_request("GET", base + "/assets/dashboard.js", {"If-None-Match: " + script.header("etag")});
  CHECK(again.status == 304);
  CHECK(again.body.empty());
  // Media needs a signed URL or a token (docs/protocol.md section 6).
  auto unsigned_url = http_request("GET", base + "/media/nobody/original.webm");
  CHECK(unsigned_url.status == 401);
  CHECK(unsigned_url.header("www-authenticate").starts_with("Bearer"));
  CHECK(unsigned_url.body.find("signed URL") != std::string::npos);
  const std::string token = "Authorization: Bearer " + read_file(d.dir.path() / "admin.token").substr(0, 60);
  auto missing = http_request("GET", base + "/media/nobody/original.webm", {token});
  CHECK(missing.status == 404);
  CHECK(missing.body.find("\"error\"") != std::string::npos);
  CHECK(http_request("GET", base + "/media/..%2F..%2Fetc/passwd", {token}).status == 404);
  CHECK(http_get(base + "/nothing/here").status == 404);
  auto ready = http_get(base + "/readyz");
  CHECK(ready.status == 200);
  CHECK(ready.body.find(R"("ready":true)") != std::string::npos);
}
