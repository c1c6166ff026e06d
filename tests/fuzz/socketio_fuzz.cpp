// Socket.IO v4 (/socket.io/, seed 001's real client) from Engine.IO payloads to core
// commands. The input is a conversation, messages separated by '\n': 0x01 + bytes is a
// binary message, 0x02 + bytes a polling POST body (decoded as Engine.IO's payload, each
// message packet handed on), anything else one text message. Replies must be Socket.IO
// packets whose payload is valid JSON; once the session closes the connection (a protocol
// error), nothing more is fed, as on a real connection.

#include <cstdlib>

#include "dialect_fuzz.hpp"
#include "socketio.hpp"

namespace {

using namespace recorder::adapters::websocket;

struct SioWire final : Outbox, SessionHost {
  void send_text(std::string text) override {
    auto p = socketio::decode_sio(text);
    if (!p) std::abort();  // we wrote a packet we cannot read
    if (!p->json.empty()) {
      rapidjson::Document d;
      d.Parse(p->json.c_str(), p->json.size());
      if (d.HasParseError()) std::abort();
    }
  }
  void close(std::string, std::uint16_t) override { closed = true; }
  void watch(const recorder::core::RecordingId&) override {}
  std::string download_url(const std::string& path) const override { return "http://fuzz/media/" + path; }
  bool closed = false;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  recorder::testing::Harness h;
  SioWire wire;
  auto session = socketio::make_session(socketio::SessionContext{
      DialectContext{h.service, wire, wire, {}}, "SID", [](const std::string& token) -> recorder::core::Result<void> {
        if (token == "bad") return recorder::core::fail(recorder::core::Errc::unauthenticated, "bad token");
        return recorder::core::ok();
      }});
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  while (!rest.empty() && !wire.closed) {
    const auto end = rest.find('\n');
    std::string_view message = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
    if (!message.empty() && message.front() == '\x01') {
      session->on_binary(std::string(message.substr(1)));
    } else if (!message.empty() && message.front() == '\x02') {
      auto packets = socketio::decode_payload(message.substr(1));
      if (!packets) continue;
      for (auto& p : *packets) {
        if (wire.closed) break;
        if (p.type != socketio::EioType::message) continue;
        if (!p.unreadable.empty()) session->on_unreadable_binary(p.unreadable);
        else if (p.binary) session->on_binary(std::move(p.data));
        else session->on_text(std::move(p.data));
      }
    } else {
      session->on_text(std::string(message));
    }
  }
  session->on_close();
  return 0;
}
