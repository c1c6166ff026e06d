#pragma once

// Socket.IO v4 for seed 001's real client (docs/protocol.md section 8): the Engine.IO v4
// and Socket.IO v5 packet codecs and the Socket.IO session on the default namespace. Plain
// code over RapidJSON and the core, no socket: the transports (HTTP long-polling and
// WebSocket) are engine_io.cpp's, and the unit tests and the fuzz target drive this alone.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dialect.hpp"

namespace recorder::adapters::websocket::socketio {

// ---- Engine.IO v4 ---------------------------------------------------------------------

enum class EioType : char { open = '0', close = '1', ping = '2', pong = '3', message = '4', upgrade = '5', noop = '6' };

struct EioPacket {
  EioType type = EioType::message;
  bool binary = false;  // a binary message (polling: "b" + base64)
  std::string data;
  // A binary message whose base64 could not be read: why (its bytes are lost). The session
  // answers the packet it belonged to with an error instead of closing the connection.
  std::string unreadable;
};

// One packet of a WebSocket text frame ("4hello", "2probe"); an error names what is wrong.
core::Result<EioPacket> decode_packet(std::string text);
// A polling payload: packets separated by 0x1e, binary ones as "b" + base64.
core::Result<std::vector<EioPacket>> decode_payload(std::string_view body);
// Text packets joined with 0x1e (the server sends no binary).
std::string encode_payload(const std::vector<std::string>& packets);

// ---- Socket.IO v5 ---------------------------------------------------------------------

enum class SioType : int { connect = 0, disconnect = 1, event = 2, ack = 3, connect_error = 4, binary_event = 5, binary_ack = 6 };

// The most binary attachments one packet may announce; seed 001 sends one per chunk.
inline constexpr std::uint64_t kMaxAttachments = 16;

struct SioPacket {
  SioType type = SioType::event;
  std::string nsp = "/";
  std::optional<std::uint64_t> id;  // an acknowledgement is asked for
  std::uint64_t attachments = 0;    // binary_event, binary_ack: how many binary messages follow
  std::string json;                 // the payload as JSON text; empty when there is none
};

// "<type>[<attachments>-][<nsp>,][<id>][<json>]"; an error names what is wrong. The JSON is
// not parsed here.
core::Result<SioPacket> decode_sio(std::string text);
// 2["<event>",<data_json>] on the default namespace.
std::string encode_event(std::string_view event, std::string_view data_json);
// 3<id>[<data_json>]
std::string encode_ack(std::uint64_t id, std::string_view data_json);

// ---- The session ------------------------------------------------------------------------

struct SessionContext {
  DialectContext dialect;  // out.send_text sends one Engine.IO message (a Socket.IO packet)
  std::string sid;         // the Socket.IO session id the CONNECT is answered with
  // Whether a CONNECT may join, given the token from its auth payload (empty: none). None: all may.
  std::function<core::Result<void>(const std::string& token)> authorize;
};

// The Socket.IO layer of one Engine.IO session: on_text gets one Engine.IO text message,
// on_binary one binary message. A packet that breaks the protocol closes the connection
// (out.close, with the reason), as Socket.IO's own server does.
class Session : public DialectSession {
 public:
  // A CONNECT to the default namespace was accepted (and no DISCONNECT followed).
  virtual bool connected() const = 0;
  // A binary message that arrived unreadable (EioPacket::unreadable says why).
  virtual void on_unreadable_binary(const std::string& why) = 0;
};
std::unique_ptr<Session> make_session(SessionContext ctx);

}  // namespace recorder::adapters::websocket::socketio
