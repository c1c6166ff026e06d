#pragma once

// What a dialect session needs from its connection, and what it offers to it. Nothing
// here names websocketpp: the sessions are plain code over RapidJSON and the core.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "recorder/adapters/websocket/agent_hub.hpp"
#include "recorder/adapters/websocket/event_stream.hpp"
#include "recorder/core/app/recording_service.hpp"
#include "recorder/core/domain/device.hpp"
#include "recorder/core/ports/operator_log.hpp"

namespace recorder::adapters::websocket {

// One connection's protocol. Every call for one connection comes from one strand, in order.
class DialectSession {
 public:
  virtual ~DialectSession() = default;
  // The connection is open; the first call on its strand.
  virtual void on_open() {}
  virtual void on_text(std::string&& text) = 0;
  virtual void on_binary(std::string&& bytes) = 0;
  // The connection dropped (or the server is stopping) without a stop from the client.
  virtual void on_close() = 0;
  // A notice about a recording this session started.
  virtual void on_notice(const core::RecordingNotice& notice) = 0;
};

// Where the notices of a watched recording go: to its session, on that session's strand.
class NoticeTarget {
 public:
  virtual ~NoticeTarget() = default;
  virtual void deliver(const core::RecordingNotice& notice) = 0;
};

// How a session learns about notices for a recording, and builds download URLs.
class SessionHost {
 public:
  virtual ~SessionHost() = default;
  // Routes notices for `id` to the calling session from now on.
  virtual void watch(const core::RecordingId& id) = 0;
  // An absolute URL for a stored file (path relative to the data directory).
  virtual std::string download_url(const std::string& path) const = 0;
};

struct DialectContext {
  core::RecordingService& service;
  Outbox& out;
  SessionHost& host;
  core::StreamLimits limits;
};

// JSON-RPC 2.0 on /rpc (seed 003): what it needs beyond a stream dialect.
struct RpcContext {
  core::RecordingService& service;
  Outbox& out;
  SessionHost& host;
  std::vector<core::Device> devices;
};

// The agent dialect on /ws/agent?agent_id=<id> (seed 000).
struct AgentContext {
  core::RecordingService& service;
  AgentHub& hub;
  Outbox& out;
  std::weak_ptr<Outbox> link;  // the same connection, for commands sent from other threads
  std::string agent_id;        // from the query, checked by the listener
  std::string remote;          // the peer's address, for the registry
  core::OperatorLog* log = nullptr;
};

std::unique_ptr<DialectSession> make_chunk_session(DialectContext ctx);
std::unique_ptr<DialectSession> make_agent_session(AgentContext ctx);
std::unique_ptr<DialectSession> make_rpc_session(RpcContext ctx);
std::unique_ptr<DialectSession> make_action_session(DialectContext ctx, std::string session_id);
// The dashboard's /ws/events: the caller signs in with the token its handshake presented
// (`presented_token`: Authorization: Bearer, else ?access_token=; empty: none), else with a
// first message {"type": "auth", "token"}, and `stream` sends it a snapshot, then what changes.
std::unique_ptr<DialectSession> make_events_session(EventStream& stream, Outbox& out, std::weak_ptr<Outbox> link,
                                                    std::string presented_token);
// A reserved path whose dialect is not served yet: every message is answered `message`.
std::unique_ptr<DialectSession> make_unavailable_session(Outbox& out, std::string message);

// Standard base64 (RFC 4648) with padding; nothing on bad input.
std::optional<std::string> decode_base64(std::string_view text);

}  // namespace recorder::adapters::websocket
