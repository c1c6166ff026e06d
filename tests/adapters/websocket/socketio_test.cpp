// Socket.IO v4 without sockets: the Engine.IO and Socket.IO codecs, and the session on the
// default namespace driven packet by packet (docs/protocol.md section 8). The transports
// and socket.io-client itself are tests/socketio/socketio_test.mjs.

#include <catch2/catch.hpp>

#include "recorder/testing/fakes.hpp"
#include "socketio.hpp"

using namespace recorder;
using namespace recorder::adapters::websocket;
using namespace recorder::adapters::websocket::socketio;
using namespace recorder::testing;

namespace {

struct Wire final : Outbox, SessionHost {
  void send_text(std::string text) override { sent.push_back(std::move(text)); }
  void close(std::string reason, std::uint16_t) override { closed = std::move(reason); }
  void watch(const core::RecordingId&) override {}
  std::string download_url(const std::string& path) const override { return "http://test/media/" + path; }
  std::vector<std::string> sent;
  std::string closed;  // why, once closed
};

struct Fixture {
  Harness h;
  Wire wire;
  std::unique_ptr<Session> s = make_session(SessionContext{DialectContext{h.service, wire, wire, {}}, "SID", {}});
};

}  // namespace

TEST_CASE("Socket.IO packets: type - attachments - namespace - ack id - payload", "[socketio]") {
  auto p = decode_sio(R"(51-/admin,12["chunk",{"_placeholder":true,"num":0}])");
  REQUIRE(p);
  CHECK(p->type == SioType::binary_event);
  CHECK(p->attachments == 1);
  CHECK(p->nsp == "/admin");
  CHECK(p->id == 12u);
  CHECK(p->json == R"(["chunk",{"_placeholder":true,"num":0}])");

  p = decode_sio("0");
  REQUIRE(p);
  CHECK((p->type == SioType::connect && p->nsp == "/" && !p->id && p->json.empty()));
  p = decode_sio(R"(0{"token":"x"})");
  REQUIRE(p);
  CHECK(p->json == R"({"token":"x"})");

  CHECK(encode_event("started", R"({"a":1})") == R"(2["started",{"a":1}])");
  CHECK(encode_ack(7, R"({"a":1})") == R"(37[{"a":1}])");
}

TEST_CASE("Socket.IO packets that break the protocol are refused with the reason", "[socketio][abuse]") {
  CHECK(decode_sio("").error().message == "an empty Socket.IO packet");
  CHECK(decode_sio("9").error().message == "unknown Socket.IO packet type");
  CHECK(decode_sio(R"(5["chunk"])").error().message.find("attachment count") != std::string::npos);
  CHECK(decode_sio(R"(517-["chunk"])").error().message == "17 attachments announced; at most 16");
  CHECK(decode_sio(R"(21234567890123456["x"])").error().message.find("15 digits") != std::string::npos);
}

TEST_CASE("Engine.IO polling payloads: packets split at 0x1e - binary as b + base64", "[socketio]") {
  auto packets = decode_payload("40\x1e" "451-[\"chunk\",{}]\x1e" "baGVsbG8=\x1e" "3");
  REQUIRE(packets);
  REQUIRE(packets->size() == 4);
  CHECK(((*packets)[0].type == EioType::message && (*packets)[0].data == "0"));
  CHECK((*packets)[2].binary);
  CHECK((*packets)[2].data == "hello");
  CHECK((*packets)[3].type == EioType::pong);
  CHECK(decode_payload("4x\x1e").error().message == "packet 2 of the payload: an empty Engine.IO packet");
  auto lost = decode_payload("bopus;base64");
  REQUIRE(lost);
  CHECK((*lost)[0].unreadable.starts_with("a binary attachment arrived as 'opus;base64', not base64"));
  CHECK(decode_payload("7").error().message.find("unknown Engine.IO packet type") != std::string::npos);
  CHECK(encode_payload({"2", "42[\"a\",{}]"}) == "2\x1e" "42[\"a\",{}]");
}

TEST_CASE("Socket.IO session: CONNECT - a binary chunk with an ack - base64 - stop's ack waits for ready", "[socketio]") {
  Fixture f;
  f.s->on_text("0");
  REQUIRE(f.wire.sent.back() == R"(0{"sid":"SID"})");
  CHECK(f.s->connected());
  f.s->on_text(R"(21["start",{"recordId":"abc"}])");
  REQUIRE(f.wire.sent.size() == 3);
  CHECK(f.wire.sent[1].starts_with(R"(2["started",{"recordId":"abc")"));
  CHECK(f.wire.sent[2].starts_with(R"(31[{"recordId":"abc")"));

  f.s->on_text(R"(51-2["chunk",{"recordId":"abc","index":0,"data":{"_placeholder":true,"num":0}}])");
  CHECK(f.wire.sent.size() == 3);  // waits for its attachment
  f.s->on_binary("hello");
  CHECK(f.wire.sent[3] == R"(2["chunkAck",{"recordId":"abc","index":0,"bytes":5}])");
  CHECK(f.wire.sent[4] == R"(32[{"recordId":"abc","index":0,"bytes":5}])");
  f.s->on_text(R"(2["chunk",{"recordId":"abc","index":1,"data":"IHdvcmxk"}])");
  CHECK(f.h.chunks.concatenated("abc") == "hello world");

  const auto before = f.wire.sent.size();
  f.s->on_text(R"(23["stop",{"recordId":"abc"}])");
  CHECK(f.wire.sent.size() == before);  // finalizing: nothing yet
  f.h.finalize_ok("abc");
  f.s->on_notice({"", {}, core::Notice::ready, f.h.get("abc")});
  REQUIRE(f.wire.sent.size() == before + 3);
  CHECK(f.wire.sent[before].starts_with(R"(2["recordingReady",{"recordId":"abc")"));
  CHECK(f.wire.sent[before + 1].starts_with(R"(33[{"recordId":"abc")"));
  CHECK(f.wire.sent[before + 2].starts_with(R"(2["finished",{"recordId":"abc")"));
  CHECK(f.wire.closed.empty());
}

TEST_CASE("Socket.IO session: a protocol error closes the connection - a request error is answered", "[socketio][abuse]") {
  Fixture f;
  SECTION("an event before CONNECT") {
    f.s->on_text(R"(2["start",{"recordId":"abc"}])");
    CHECK(f.wire.closed == "Socket.IO protocol error: an event before CONNECT");
    CHECK_FALSE(f.h.repository.find("abc").value().has_value());
  }
  SECTION("an unknown namespace is answered CONNECT_ERROR and the connection stays") {
    f.s->on_text("0/admin,");
    CHECK(f.wire.sent.back() == R"(4/admin,{"message":"Invalid namespace"})");
    CHECK(f.wire.closed.empty());
  }
  SECTION("a text packet while attachments are awaited") {
    f.s->on_text("0");
    f.s->on_text(R"(51-["chunk",{"recordId":"a","data":{"_placeholder":true,"num":0}}])");
    f.s->on_text(R"(2["stop",{"recordId":"a"}])");
    CHECK(f.wire.closed.find("while binary attachments were awaited") != std::string::npos);
  }
  SECTION("a placeholder for an attachment that was not announced") {
    f.s->on_text("0");
    f.s->on_text(R"(51-["chunk",{"recordId":"a","data":{"_placeholder":true,"num":3}}])");
    f.s->on_binary("x");
    CHECK(f.wire.closed.find("not announced") != std::string::npos);
  }
  SECTION("binary data nobody announced") {
    f.s->on_text("0");
    f.s->on_binary("x");
    CHECK(f.wire.closed.find("no packet announced") != std::string::npos);
  }
  SECTION("a payload that is not an event array") {
    f.s->on_text("0");
    f.s->on_text(R"(2{"event":"start"})");
    CHECK(f.wire.closed.find("array that starts with the event's name") != std::string::npos);
  }
  SECTION("an unknown event is a request error - answered and acknowledged - not a protocol error") {
    f.s->on_text("0");
    f.s->on_text(R"(29["pause",{}])");
    CHECK(f.wire.sent[1] == R"(2["error",{"message":"Unknown event 'pause': expected start, chunk or stop"}])");
    CHECK(f.wire.sent[2] == R"(39[{"message":"Unknown event 'pause': expected start, chunk or stop"}])");
    CHECK(f.wire.closed.empty());
  }
}

TEST_CASE("Socket.IO session: CONNECT with auth - a refusal is CONNECT_ERROR with the reason", "[socketio]") {
  Harness h;
  Wire wire;
  std::vector<std::string> tokens;
  auto s = make_session(SessionContext{DialectContext{h.service, wire, wire, {}}, "SID", [&](const std::string& t) -> core::Result<void> {
                                         tokens.push_back(t);
                                         if (t == "good") return core::ok();
                                         return core::fail(core::Errc::unauthenticated, "a token is required");
                                       }});
  s->on_text("0");
  CHECK(wire.sent.back() == R"(4{"message":"a token is required"})");
  CHECK_FALSE(s->connected());
  s->on_text(R"(0{"token":"good"})");
  CHECK(wire.sent.back() == R"(0{"sid":"SID"})");
  CHECK(tokens == std::vector<std::string>{"", "good"});
  s->on_text("0[1]");
  CHECK(wire.closed == "Socket.IO protocol error: CONNECT: the auth payload must be an object");
}

TEST_CASE("Socket.IO session: a drop or a DISCONNECT puts the recording in grace", "[socketio]") {
  Fixture f;
  f.s->on_text("0");
  f.s->on_text(R"(2["start",{"recordId":"abc"}])");
  SECTION("DISCONNECT") { f.s->on_text("1"); }
  SECTION("the transport closes") { f.s->on_close(); }
  CHECK(f.h.get("abc").state == core::State::interrupted);
}

TEST_CASE("Socket.IO session: an attachment that arrived unreadable is a chunkError naming why - the socket stays", "[socketio][abuse]") {
  Fixture f;
  f.s->on_text("0");
  f.s->on_text(R"(2["start",{"recordId":"abc"}])");
  auto lost = decode_payload("bopus;base64");
  REQUIRE(lost);
  f.s->on_text(R"(51-4["chunk",{"recordId":"abc","index":0,"data":{"_placeholder":true,"num":0}}])");
  f.s->on_unreadable_binary((*lost)[0].unreadable);
  CHECK(f.wire.sent[2].starts_with(R"(2["chunkError",{"recordId":"abc","index":0,"error":"a binary attachment arrived as 'opus;base64')"));
  CHECK(f.wire.sent[3].starts_with(R"(34[{"recordId":"abc","index":0,"error":)"));
  CHECK(f.wire.closed.empty());
  CHECK(f.h.chunks.concatenated("abc").empty());
  f.s->on_text(R"(51-["chunk",{"recordId":"abc","index":0,"data":{"_placeholder":true,"num":0}}])");
  f.s->on_binary("bytes");
  CHECK(f.h.chunks.concatenated("abc") == "bytes");
}
