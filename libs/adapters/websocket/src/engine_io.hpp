#pragma once

// Engine.IO v4 on /socket.io/ (docs/protocol.md section 8): HTTP long-polling, WebSocket,
// and the upgrade from one to the other, under the Socket.IO session of socketio.hpp. No
// websocketpp here: the listener hands in HTTP requests with a way to answer them later,
// and WebSocket connections as an Outbox. Each Engine.IO session runs on its own strand of
// the listener's worker pool, like a WebSocket connection; an upgraded WebSocket shares it.

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <asio/strand.hpp>
#include <asio/thread_pool.hpp>

#include "dialect.hpp"
#include "recorder/adapters/http/router.hpp"

namespace recorder::adapters::websocket {

struct EngineIoConfig {
  std::chrono::milliseconds ping_interval{25000};
  std::chrono::milliseconds ping_timeout{20000};
  std::chrono::milliseconds connect_timeout{45000};  // an Engine.IO session without a Socket.IO CONNECT
  std::chrono::milliseconds upgrade_timeout{10000};  // a probe that never sends the upgrade packet
  std::size_t max_payload = 1000000;                 // one HTTP POST body or WebSocket message
  std::size_t max_outgoing_bytes = 4 * 1024 * 1024;  // queued for a polling client that does not poll
  std::size_t max_sessions = 0;                      // 0: no cap
  std::vector<std::string> cors_origins;             // pages on these origins may long-poll ("*": any)
};

// What an Engine.IO session needs from the listener.
struct EngineIoHost {
  core::RecordingService* service = nullptr;
  core::StreamLimits limits;
  std::function<void(const core::RecordingId&, std::weak_ptr<NoticeTarget>)> watch;
  std::function<std::string(const std::string& path, const std::string& host)> download_url;
  // (Authorization header, resource) -> allowed or why not; none: every CONNECT may join.
  std::function<core::Result<void>(const std::string&, const std::string&)> authorize;
};

// The request that opened a session: where its token and its URLs come from.
struct Handshake {
  std::string resource;       // path and query
  std::string host;           // the Host header
  std::string authorization;  // the Authorization header
};

class EngineIo {
 public:
  using Strand = asio::strand<asio::thread_pool::executor_type>;
  // Answers one HTTP request; called once, from any thread.
  using Respond = std::function<void(http::Response)>;

  EngineIo(EngineIoConfig config, EngineIoHost host, asio::thread_pool::executor_type pool);
  ~EngineIo();
  EngineIo(const EngineIo&) = delete;
  EngineIo& operator=(const EngineIo&) = delete;

  // Whether an HTTP request or WebSocket handshake is Engine.IO's (path /socket.io/).
  static bool owns(std::string_view target);
  // A polling request. Never blocks: the work runs on the session's strand.
  void handle_http(http::Request request, Respond respond);
  // A WebSocket handshake: nothing when it may open, else Engine.IO's error response.
  std::optional<http::Response> refuse_websocket(const std::string& resource) const;
  // An opened WebSocket: its session (which runs on `strand`), new or an upgrade.
  struct WebSocket {
    std::unique_ptr<DialectSession> session;
    Strand strand;
  };
  WebSocket open_websocket(std::weak_ptr<Outbox> ws, Handshake handshake);
  // Closes every session (their recordings enter grace, as on a drop).
  void stop();
  std::size_t sessions() const;

 private:
  struct Session;
  struct WsTransport;
  friend struct Session;
  std::shared_ptr<Session> find(const std::string& sid) const;
  // A WebSocket session when `key` (its WebSocket's identity) is set; a polling one otherwise.
  std::shared_ptr<Session> create(Handshake handshake, std::weak_ptr<Outbox> ws, const void* key);
  void forget(const std::string& sid);

  EngineIoConfig config_;
  EngineIoHost host_;
  asio::thread_pool::executor_type pool_;
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<Session>, std::less<>> sessions_;
  bool stopping_ = false;
};

}  // namespace recorder::adapters::websocket
