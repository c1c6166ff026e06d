#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "recorder/adapters/websocket/agent_hub.hpp"
#include "recorder/adapters/websocket/event_stream.hpp"
#include "recorder/core/app/recording_service.hpp"
#include "recorder/core/domain/device.hpp"
#include "recorder/core/ports/event_publisher.hpp"
#include "recorder/core/ports/operator_log.hpp"

namespace recorder::adapters::http {
class Router;
}

namespace recorder::adapters::websocket {

struct WsServerConfig {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;  // 0: any free port (see WsServer::port())
  core::StreamLimits action_limits;  // /ws/{session_id}
  core::StreamLimits record_limits;  // /ws/record
  std::size_t workers = 32;                          // threads that store chunks (they block in fdatasync)
  std::size_t http_workers = 4;                      // threads that answer HTTP requests (REST, media, metrics)
  int http_nice = 10;                                // their CPU priority: below chunk storage
  std::size_t max_outgoing_bytes = 4 * 1024 * 1024;  // per connection; a client that reads no more is closed
  std::size_t max_pending_bytes = 32 * 1024 * 1024;  // per connection; received, not yet stored: reading pauses
  // /socket.io/ (Engine.IO): how often the server pings, and how long a pong may take.
  std::chrono::milliseconds socketio_ping_interval{25000};
  std::chrono::milliseconds socketio_ping_timeout{20000};
  // Page origins allowed to long-poll /socket.io/ from another site (CORS); "*": any.
  std::vector<std::string> socketio_cors_origins;
  std::size_t max_connections = 0;  // open TCP connections (HTTP and WebSocket); past it 503 and close; 0: no cap
  const http::Router* http = nullptr;  // every HTTP request (must outlive the server); none: 404
  std::vector<core::Device> devices;  // capture devices for /rpc
  AgentHub* agents = nullptr;         // /ws/agent's registry (must outlive the server); none: a clear error
  EventStream* events = nullptr;      // /ws/events, the dashboard's feed (must outlive the server); none: a clear error
  core::OperatorLog* log = nullptr;   // where the listener says it cannot accept (none: silent)
  // The URL a dialect hands out for a stored media file ("recordings/<dir>/<file>"), given
  // the Host header the client connected with. None: an unsigned http://host:port/media/… URL.
  std::function<std::string(const std::string& stored_path, const std::string& host)> media_url;
  // Whether a WebSocket handshake may open a dialect, given its Authorization header and its
  // resource (path and query). None: every handshake may (auth.ingest = open). A refusal
  // answers the handshake with the error's HTTP status (401, 403, 503) and JSON body.
  std::function<core::Result<void>(const std::string& authorization, const std::string& resource)> authorize;
};

// The one listener (websocketpp on standalone Asio): HTTP and WebSocket on one port.
// WebSocket paths are a table of dialects, matched in order:
//   /ws/record           the chunk dialect (seed 001)
//   /ws/agent            the agent dialect (seed 000); ?agent_id=<id> is required
//   /socket.io/          Socket.IO v4 (seed 001's real client; also its HTTP long-polling)
//   /ws/events           the dashboard's live feed (signs in with a token of any role)
//   /rpc                 JSON-RPC 2.0 (seed 003)
//   /ws/{session_id}     the action dialect (seed 002)
// Every HTTP request goes to the http router, run on its own lower-priority threads, never on the network
// thread. One network thread does only socket work; each connection's messages run in
// order on a strand of the worker pool, where the service stores chunks. It is also the
// event publisher that tells a connection when its recording is ready.
class WsServer final : public core::EventPublisher {
 public:
  explicit WsServer(WsServerConfig config);
  ~WsServer() override;
  WsServer(const WsServer&) = delete;
  WsServer& operator=(const WsServer&) = delete;

  // Before start(): the service the dialects drive.
  void attach(core::RecordingService& service);
  // Binds and listens; returns once connections are accepted (or why not).
  core::Result<void> start();
  std::uint16_t port() const;
  // Stops accepting, sends every client a close frame (1001), waits for the sessions to
  // finish what they received, and joins the threads.
  void stop();
  // WebSocket sessions open, in all and by dialect path pattern (every dialect listed;
  // /socket.io/ counts Engine.IO sessions, on long-polling or WebSocket).
  std::size_t connections() const;
  std::map<std::string, std::size_t> connections_by_dialect() const;
  // TCP connections open (HTTP and WebSocket, handshakes included), and how many were
  // refused for the cap since start.
  std::size_t open_connections() const;
  // Engine.IO sessions on /socket.io/ (long-polling and WebSocket).
  std::size_t socketio_sessions() const;
  std::uint64_t refused_connections() const;

  // Port
  void publish(const core::NoticeBody& n) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace recorder::adapters::websocket
