// The dialect codecs without sockets (ADR 0007): frames in, core commands, frames out.

#include <catch2/catch.hpp>

#include <rapidjson/document.h>

#include "dialect.hpp"
#include "recorder/testing/fakes.hpp"

using namespace recorder;
using namespace recorder::adapters::websocket;
using namespace recorder::testing;

namespace {

struct Wire final : Outbox, SessionHost {
  void send_text(std::string text) override { sent.push_back(std::move(text)); }
  void watch(const core::RecordingId& id) override { watched.push_back(id); }
  std::string download_url(const std::string& path) const override { return "http://test/media/" + path; }

  rapidjson::Document last() const {
    rapidjson::Document d;
    REQUIRE_FALSE(sent.empty());
    d.Parse(sent.back().c_str());
    REQUIRE_FALSE(d.HasParseError());
    return d;
  }
  std::vector<std::string> sent;
  std::vector<core::RecordingId> watched;
};

}  // namespace

TEST_CASE("chunk dialect: start - a chunk by index - a binary chunk - stop", "[dialect]") {
  Harness h;
  Wire wire;
  auto s = make_chunk_session(DialectContext{h.service, wire, wire, {}});
  s->on_text(R"({"event":"start","data":{"recordId":"abc","mimeType":"video/webm"}})");
  CHECK(std::string(wire.last()["event"].GetString()) == "started");
  s->on_text(R"({"event":"chunk","data":{"recordId":"abc","index":0,"data":"aGVsbG8="}})");
  CHECK(wire.last()["data"]["bytes"].GetUint64() == 5);
  s->on_binary("world");
  CHECK(wire.last()["data"]["index"].GetUint64() == 1);
  CHECK(h.chunks.concatenated("abc") == "helloworld");
  s->on_text(R"({"event":"stop","data":{"recordId":"abc"}})");
  CHECK(h.get("abc").state == core::State::finalizing);
  CHECK(wire.watched == std::vector<core::RecordingId>{"abc", "abc"});
}

TEST_CASE("chunk dialect: bad input gets an error naming it and the session stays usable", "[dialect]") {
  Harness h;
  Wire wire;
  auto s = make_chunk_session(DialectContext{h.service, wire, wire, {}});
  s->on_text("{not json");
  CHECK(std::string(wire.last()["data"]["message"].GetString()).find("malformed JSON") == 0);
  s->on_text(R"({"event":"chunk","data":{"recordId":"abc","data":"@@"}})");
  CHECK(std::string(wire.last()["data"]["error"].GetString()) == "data.data is not valid base64");
  s->on_text(R"({"event":"start","data":{"recordId":"abc"}})");
  CHECK(std::string(wire.last()["event"].GetString()) == "started");
}

TEST_CASE("action dialect: a session's second recording gets -2 from the core", "[dialect]") {
  Harness h;
  Wire wire;
  auto s = make_action_session(DialectContext{h.service, wire, wire, {}}, "sess");
  s->on_text(R"({"action":"start","format":"wav"})");
  s->on_text(R"({"action":"audio_chunk","data":"aGVsbG8="})");
  s->on_text(R"({"action":"stop"})");
  s->on_text(R"({"action":"start","format":"mp4"})");
  CHECK(std::string(wire.last()["type"].GetString()) == "recording_started");
  CHECK(wire.watched.back() == "sess-2");
  s->on_text(R"({"action":"dance"})");
  CHECK(std::string(wire.last()["message"].GetString()) == "Unknown action");
}

TEST_CASE("a reserved path answers every message with its dialect's error and records nothing", "[dialect]") {
  Harness h;
  Wire wire;
  auto s = make_unavailable_session(wire, "not served yet");
  s->on_open();
  s->on_text(R"({"type":"recording_status","timestamp":"2025-10-30T15:00:00Z","data":{}})");
  REQUIRE(wire.sent.size() == 2);
  auto d = wire.last();
  CHECK(std::string(d["type"].GetString()) == "error");
  CHECK(std::string(d["data"]["message"].GetString()) == "not served yet");
  CHECK(h.repository.rows.empty());
}

TEST_CASE("every dialect refuses arrays nested 200000 deep with its error and stays usable", "[dialect][abuse]") {
  // About 400 KB of brackets: a recursive parser overflows the stack on it (issue 9).
  const std::string deep = std::string(200000, '[') + std::string(200000, ']');
  const std::string deep_in_data = R"({"event":"start","data":)" + std::string(200000, '{') + "}";
  Harness h;
  Wire wire;

  auto chunk = make_chunk_session(DialectContext{h.service, wire, wire, {}});
  for (const auto& text : {deep, deep_in_data}) {
    chunk->on_text(std::string(text));
    const std::string message = wire.last()["data"]["message"].GetString();
    CHECK_THAT(message, Catch::StartsWith("malformed JSON: arrays and objects nested deeper than 32 levels"));
  }
  chunk->on_text(R"({"event":"start","data":{"recordId":"abc"}})");
  CHECK(std::string(wire.last()["event"].GetString()) == "started");

  auto action = make_action_session(DialectContext{h.service, wire, wire, {}}, "sess");
  action->on_text(std::string(deep));
  CHECK_THAT(std::string(wire.last()["message"].GetString()), Catch::StartsWith("Invalid JSON: arrays and objects"));
  action->on_text(R"({"action":"start","format":"wav"})");
  CHECK(std::string(wire.last()["type"].GetString()) == "recording_started");

  auto rpc = make_rpc_session(RpcContext{h.service, wire, wire, {}});
  rpc->on_text(std::string(deep));
  CHECK(wire.last()["error"]["code"].GetInt() == -32700);
  CHECK_THAT(std::string(wire.last()["error"]["message"].GetString()),
             Catch::Contains("nested deeper than 32 levels"));
  rpc->on_text(R"({"jsonrpc":"2.0","method":"ping","id":1})");
  CHECK(std::string(wire.last()["result"].GetString()) == "pong");
}

TEST_CASE("nesting is counted outside strings only - brackets inside a string are data", "[dialect]") {
  Harness h;
  Wire wire;
  auto chunk = make_chunk_session(DialectContext{h.service, wire, wire, {}});
  // A record id made of brackets and escaped quotes is a string, not nesting.
  const std::string id = std::string(100, '[') + R"(\"{{{)";
  chunk->on_text(R"({"event":"start","data":{"recordId":")" + id + R"("}})");
  CHECK(std::string(wire.last()["event"].GetString()) == "started");
}

TEST_CASE("a key that appears twice is refused - which value counts would be a guess", "[dialect][abuse]") {
  Harness h;
  Wire wire;
  auto chunk = make_chunk_session(DialectContext{h.service, wire, wire, {}});
  chunk->on_text(R"({"event":"start","event":"stop","data":{"recordId":"abc"}})");
  CHECK(std::string(wire.last()["data"]["message"].GetString()) ==
        R"(malformed JSON: the key "event" appears twice in one object)");
  chunk->on_text(R"({"event":"start","data":{"recordId":"abc","x":[{"k":1,"k":2}]}})");
  CHECK_THAT(std::string(wire.last()["data"]["message"].GetString()), Catch::Contains(R"(the key "k" appears twice)"));
  CHECK(h.repository.rows.empty());
}

TEST_CASE("JSON-RPC: a batch holds at most 100 requests", "[dialect][rpc][abuse]") {
  Harness h;
  Wire wire;
  auto rpc = make_rpc_session(RpcContext{h.service, wire, wire, {}});
  const auto batch = [](int n) {
    std::string out = "[";
    for (int i = 0; i < n; ++i)
      out += std::string(i ? "," : "") + R"({"jsonrpc":"2.0","method":"ping","id":)" + std::to_string(i) + "}";
    return out + "]";
  };
  rpc->on_text(batch(101));
  CHECK(wire.last()["error"]["code"].GetInt() == -32600);
  CHECK(std::string(wire.last()["error"]["message"].GetString()) ==
        "Invalid Request: a batch holds at most 100 requests; this one has 101");
  rpc->on_text(batch(100));
  CHECK(wire.last().IsArray());
  CHECK(wire.last().Size() == 100);
}

TEST_CASE("base64 outside the alphabet is refused - not decoded to bytes nobody sent", "[dialect][abuse]") {
  // EVP_DecodeBlock alone took these (trailing '-' dropped, leading space skipped).
  for (const std::string bad : {"QQ==----", " QUJD", "QUJD\n\n\n\n", "QU=D", "Q===", "QUJ-"})
    CHECK_FALSE(decode_base64(bad));
  CHECK(decode_base64("QUJD") == "ABC");
  CHECK(decode_base64("QUI=") == "AB");
  CHECK(decode_base64("QQ==") == "A");
  CHECK(decode_base64("") == "");
}
