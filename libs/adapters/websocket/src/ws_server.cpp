// The only translation unit that includes websocketpp (it is slow to compile and its types
// stay here). See ws_server.hpp.

#include "recorder/adapters/websocket/ws_server.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/thread_pool.hpp>
#include <websocketpp/config/asio_no_tls.hpp>
#include <websocketpp/server.hpp>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <fmt/format.h>

#include "dialect.hpp"
#include "engine_io.hpp"
#include "recorder/adapters/http/router.hpp"

namespace recorder::adapters::websocket {
namespace {

// websocketpp's asio config with a 64 KiB read buffer instead of 16 KiB: a 64 KiB chunk
// arrives in one read instead of four. The buffer is a member of every connection, but an
// idle connection only touches its first page (measured: docs/performance.md).
struct ServerConfig : websocketpp::config::asio {
  static const std::size_t connection_read_buffer_size = 64 * 1024;
};
using Server = websocketpp::server<ServerConfig>;
using Hdl = websocketpp::connection_hdl;
using Strand = asio::strand<asio::thread_pool::executor_type>;

}  // namespace

struct WsServer::Impl {
  struct Connection;

  WsServerConfig config;
  core::RecordingService* service = nullptr;
  // Declared before the server: it is destroyed after it (its acceptor uses their services).
  // The pool outlives the io_context: handlers still queued on the io_context when it is
  // destroyed may hold a Connection, whose strand belongs to the pool (the other order was
  // a use-after-free at exit, found by the abuse suite under ASan).
  asio::thread_pool pool;
  // HTTP requests (REST, media, metrics) run on threads of their own at a lower CPU
  // priority (nice +10), apart from the connections' strands: a burst of API calls queues
  // among itself and yields the CPU to chunk storage, so streams keep their ack latency
  // while the API is hammered (measured: docs/performance.md, ws_load scenario 5).
  asio::io_context http_io;
  asio::executor_work_guard<asio::io_context::executor_type> http_work{http_io.get_executor()};
  std::vector<std::thread> http_threads;
  asio::io_context io;
  Server server;
  std::thread io_thread;
  std::atomic<std::uint16_t> bound_port{0};

  std::mutex mutex;  // guards the maps below
  std::map<Hdl, std::shared_ptr<Connection>, std::owner_less<Hdl>> connections;
  std::unordered_map<core::RecordingId, std::weak_ptr<NoticeTarget>> watchers;
  std::unique_ptr<EngineIo> engine;  // /socket.io/, made at start()
  std::condition_variable drained;
  using PathParams = std::map<std::string, std::string, std::less<>>;

  explicit Impl(WsServerConfig c)
      : config(std::move(c)),
        pool(std::max<std::size_t>(config.workers, 1)),
        table(dialects()) {}
  ~Impl() {
    if (spare_fd >= 0) ::close(spare_fd);
  }

  // Accepting is ours, not websocketpp's start_accept: its loop accepts again at once after
  // a failed accept, so a process out of file descriptors spun a core and served nobody,
  // silently (found by the abuse suite). Here a failed accept is said once and tried again
  // every 100 ms; while descriptors are exhausted, a spare one is given up for a moment to
  // accept and close the newcomer at once, so that it is refused rather than left hanging
  // in the backlog. Network thread only.
  asio::steady_timer accept_retry{io};
  std::string accept_trouble;  // the failure being reported, empty when accepting works
  int spare_fd = -1;
  bool stopping = false;

  void say(core::Severity severity, const std::string& text) {
    if (config.log) config.log->write(severity, text);
  }

  void accept_next() {
    if (stopping || !server.is_listening()) return;
    Server::connection_ptr con = server.get_connection();
    websocketpp::lib::error_code ec;
    server.async_accept(websocketpp::lib::static_pointer_cast<Server::transport_con_type>(con),
                        [this, con](const websocketpp::lib::error_code& e) { on_accepted(con, e); }, ec);
    if (ec) con->terminate(ec);
  }

  void on_accepted(const Server::connection_ptr& con, const websocketpp::lib::error_code& e) {
    if (!e) {
      if (!accept_trouble.empty()) {
        say(core::Severity::info, "listener: accepting connections again");
        accept_trouble.clear();
      }
      if (config.max_connections > 0 && open_count >= config.max_connections) {
        refuse_over_cap(con);
        return accept_next();
      }
      ++open_count;
      open_now.store(open_count, std::memory_order_relaxed);
      // Every started connection ends here exactly once (HTTP, WebSocket, failed handshake).
      con->set_termination_handler([this](const Server::connection_ptr&) { connection_ended(); });
      con->start();
      return accept_next();
    }
    con->terminate(e);
    if (stopping || e == websocketpp::error::operation_canceled) return;
    const bool out_of_descriptors = e.value() == EMFILE || e.value() == ENFILE;
    if (accept_trouble.empty()) {
      accept_trouble = e.message();
      say(core::Severity::critical,
          fmt::format("listener: cannot accept connections: {}{}; new connections are refused and accepting is "
                      "tried again every 100 ms",
                      e.message(), out_of_descriptors ? " (the process's file descriptor limit)" : ""));
    }
    if (out_of_descriptors) refuse_waiting();
    accept_retry.expires_after(std::chrono::milliseconds(100));
    accept_retry.async_wait([this](const asio::error_code& err) {
      if (!err) accept_next();
    });
  }

  // Out of descriptors: give up the spare, accept what waits (up to 256, never blocking)
  // and close each at once, then take the spare back.
  void refuse_waiting() {
    if (spare_fd < 0 || listen_fd < 0) return;
    ::close(spare_fd);
    spare_fd = -1;
    for (int n = 0; n < 256; ++n) {
      pollfd p{listen_fd, POLLIN, 0};
      if (::poll(&p, 1, 0) != 1) break;
      const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd < 0) break;
      ::close(fd);
    }
    spare_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  }
  int listen_fd = -1;  // the acceptor's socket, learnt before it is bound

  // The connection cap (config.max_connections): past it a newcomer gets a 503 and is
  // closed at once, so that descriptors stay for recordings' files and the store. Said once
  // when the cap is reached and once when there is room again. Network thread only.
  std::size_t open_count = 0;
  bool at_cap = false;
  std::string over_cap_reply;  // the raw HTTP 503, made at start
  std::atomic<std::size_t> open_now{0};
  std::atomic<std::uint64_t> refused_total{0};

  void connection_ended() {
    if (open_count > 0) --open_count;
    open_now.store(open_count, std::memory_order_relaxed);
    if (at_cap && open_count < config.max_connections) {
      at_cap = false;
      say(core::Severity::info, fmt::format("listener: {} connections open, below server.max_connections ({}) "
                                            "again; accepting connections",
                                            open_count, config.max_connections));
    }
  }

  void refuse_over_cap(const Server::connection_ptr& con) {
    refused_total.fetch_add(1, std::memory_order_relaxed);
    if (!at_cap) {
      at_cap = true;
      say(core::Severity::warning,
          fmt::format("listener: {} connections open, the limit server.max_connections; new connections get 503 "
                      "and are closed until some close",
                      open_count));
    }
    auto& socket = con->get_raw_socket();
    const int fd = socket.native_handle();
    // Read what the client already sent (a little, never blocking): closing a socket with
    // unread bytes resets it, and the client would not see the 503.
    char sink[4096];
    for (int n = 0; n < 16 && ::recv(fd, sink, sizeof sink, MSG_DONTWAIT) > 0; ++n) {
    }
    (void)::send(fd, over_cap_reply.data(), over_cap_reply.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    ::shutdown(fd, SHUT_RDWR);
    asio::error_code ec;
    socket.close(ec);
  }

  struct Connection final : Outbox, SessionHost, NoticeTarget, std::enable_shared_from_this<Connection> {
    Connection(Impl& i, Hdl h, std::string host_header, std::string dialect_path)
        : impl(i),
          hdl(std::move(h)),
          host(std::move(host_header)),
          dialect(std::move(dialect_path)),
          strand(asio::make_strand(i.pool.get_executor())) {}
    Impl& impl;
    Hdl hdl;
    std::string host;     // the Host header of the handshake, for the URLs this client is given
    std::string dialect;  // the dialect's path pattern (/ws/record, /rpc, ...)
    std::string resource;  // the handshake's path and query
    std::string remote;    // the peer's address
    std::string authorization;  // the handshake's Authorization header
    Strand strand;  // a /socket.io/ connection runs on its Engine.IO session's
    std::unique_ptr<DialectSession> session;
    std::atomic<std::size_t> pending{0};
    bool paused = false;  // network thread only

    void send_text(std::string text) override {
      asio::post(impl.io, [self = shared_from_this(), text = std::move(text)]() mutable {
        self->impl.send_now(self->hdl, std::move(text));
      });
    }
    void close(std::string reason, std::uint16_t code) override {
      asio::post(impl.io, [self = shared_from_this(), reason = std::move(reason), code] {
        websocketpp::lib::error_code ec;
        self->impl.server.close(self->hdl, code, reason.substr(0, 120), ec);
      });
    }
    void watch(const core::RecordingId& id) override { impl.watch(id, weak_from_this()); }
    void deliver(const core::RecordingNotice& n) override {
      asio::post(strand, [self = shared_from_this(), n] { self->session->on_notice(n); });
    }
    std::string download_url(const std::string& path) const override { return impl.media_url(path, host); }
  };

  void watch(const core::RecordingId& id, std::weak_ptr<NoticeTarget> target) {
    std::lock_guard lock(mutex);
    watchers[id] = std::move(target);
  }

  std::string media_url(const std::string& path, const std::string& host) const {
    if (config.media_url) return config.media_url(path, host);
    // Stored paths are "recordings/<dir>/<file>"; they are served as /media/<dir>/<file>.
    const std::string prefix = "recordings/";
    const std::string rest = path.rfind(prefix, 0) == 0 ? path.substr(prefix.size()) : path;
    return fmt::format("http://{}:{}/media/{}", config.host, bound_port.load(), rest);
  }

  void send_now(const Hdl& hdl, std::string text) {
    websocketpp::lib::error_code ec;
    auto con = server.get_con_from_hdl(hdl, ec);
    if (ec || con->get_state() != websocketpp::session::state::open) return;
    if (const auto unsent = con->get_buffered_amount(); unsent > config.max_outgoing_bytes) {
      // A client that does not read is closed, not buffered without end.
      say(core::Severity::warning,
          fmt::format("listener: closing a connection from {} that does not read its messages ({} bytes unsent, "
                      "more than server.max_outgoing_bytes); close code 1008",
                      con->get_remote_endpoint(), unsent));
      con->close(websocketpp::close::status::policy_violation, "client is not reading its messages", ec);
      return;
    }
    (void)con->send(text, websocketpp::frame::opcode::text);
  }

  std::shared_ptr<Connection> find(const Hdl& hdl) {
    std::lock_guard lock(mutex);
    auto it = connections.find(hdl);
    return it == connections.end() ? nullptr : it->second;
  }

  // The dialect table: the first entry whose pattern matches the path makes the session.
  using MakeSession = std::function<std::unique_ptr<DialectSession>(Connection&, const PathParams&)>;
  struct DialectRoute {
    std::string pattern;
    MakeSession make;
  };
  std::vector<DialectRoute> dialects() {
    return {
        {"/ws/record",
         [this](Connection& c, const PathParams&) {
           return make_chunk_session(DialectContext{*service, c, c, config.record_limits});
         }},
        {"/ws/agent",
         [this](Connection& c, const PathParams&) -> std::unique_ptr<DialectSession> {
           if (!config.agents)
             return make_unavailable_session(c, "this recorderd serves no agents (no agent registry is configured)");
           return make_agent_session(AgentContext{*service, *config.agents, c, c.weak_from_this(),
                                                  agent_id_of(c.resource).value_or(""), c.remote, config.log});
         }},
        {"/socket.io/",
         [this](Connection& c, const PathParams&) {
           auto ws = engine->open_websocket(c.weak_from_this(), Handshake{c.resource, c.host, c.authorization});
           c.strand = ws.strand;
           return std::move(ws.session);
         }},
        {"/ws/events",
         [this](Connection& c, const PathParams&) -> std::unique_ptr<DialectSession> {
           if (!config.events) return make_unavailable_session(c, "this recorderd serves no event stream");
           return make_events_session(*config.events, c, c.weak_from_this(), http::handshake_token(c.authorization, c.resource));
         }},
        {"/rpc", [this](Connection& c, const PathParams&) { return make_rpc_session(RpcContext{*service, c, c, config.devices}); }},
        {"/ws/{session_id}",
         [this](Connection& c, const PathParams& p) {
           return make_action_session(DialectContext{*service, c, c, config.action_limits}, p.at("session_id"));
         }},
    };
  }

  std::vector<DialectRoute> table;

  // /ws/agent's ?agent_id=<id>: 1 to 200 bytes without control characters; else why not.
  static core::Result<std::string> agent_id_in(const std::string& resource) {
    const auto q = resource.find('?');
    auto params = http::parse_query(q == std::string::npos ? std::string_view{} : std::string_view(resource).substr(q + 1));
    if (!params) return std::unexpected(params.error());
    for (const auto& [k, v] : *params) {
      if (k != "agent_id") continue;
      if (v.empty() || v.size() > core::kMaxRecordingIdBytes ||
          std::ranges::any_of(v, [](char ch) { return static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f; }))
        return core::fail(core::Errc::invalid_argument,
                          "agent_id: 1 to 200 bytes without control characters (/ws/agent?agent_id=<id>)");
      return v;
    }
    return core::fail(core::Errc::invalid_argument, "agent_id: required in the query (/ws/agent?agent_id=<id>)");
  }
  static std::optional<std::string> agent_id_of(const std::string& resource) {
    auto id = agent_id_in(resource);
    return id ? std::optional{*id} : std::nullopt;
  }

  const DialectRoute* route(const std::string& resource, PathParams& params) const {
    const std::string path = resource.substr(0, resource.find('?'));
    for (const DialectRoute& d : table) {
      if (d.pattern == "/socket.io/") {
        if (EngineIo::owns(path)) return &d;
        continue;
      }
      if (auto p = http::match_path(d.pattern, path)) {
        params = std::move(*p);
        return &d;
      }
    }
    return nullptr;
  }

  void on_open(const Hdl& hdl) {
    auto con = server.get_con_from_hdl(hdl);
    PathParams params;
    const DialectRoute* d = route(con->get_resource(), params);
    if (!d) return;  // refused in on_validate
    auto c = std::make_shared<Connection>(*this, hdl, con->get_request_header("Host"), d->pattern);
    c->resource = con->get_resource();
    c->remote = con->get_remote_endpoint();
    c->authorization = con->get_request_header("Authorization");
    c->session = d->make(*c, params);
    {
      std::lock_guard lock(mutex);
      connections.emplace(hdl, c);
    }
    asio::post(c->strand, [c] { c->session->on_open(); });
  }

  void on_close(const Hdl& hdl) {
    std::shared_ptr<Connection> c;
    {
      std::lock_guard lock(mutex);
      auto it = connections.find(hdl);
      if (it == connections.end()) return;
      c = std::move(it->second);
      connections.erase(it);
    }
    asio::post(c->strand, [this, c] {
      c->session->on_close();
      std::lock_guard lock(mutex);
      drained.notify_all();
    });
  }

  void on_message(const Hdl& hdl, const Server::message_ptr& msg) {
    auto c = find(hdl);
    if (!c) return;
    std::string payload = std::move(msg->get_raw_payload());
    const bool text = msg->get_opcode() == websocketpp::frame::opcode::text;
    const std::size_t size = payload.size();
    if (c->pending.fetch_add(size) + size > config.max_pending_bytes && !c->paused) {
      // The disk is slower than this client: stop reading until the backlog halves.
      websocketpp::lib::error_code ec;
      server.pause_reading(hdl, ec);
      c->paused = !ec;
    }
    asio::post(c->strand, [this, c, text, size, payload = std::move(payload)]() mutable {
      if (text) c->session->on_text(std::move(payload));
      else c->session->on_binary(std::move(payload));
      if (c->pending.fetch_sub(size) - size < config.max_pending_bytes / 2) {
        asio::post(io, [this, c] {
          if (!c->paused) return;
          websocketpp::lib::error_code ec;
          server.resume_reading(c->hdl, ec);
          c->paused = false;
        });
      }
    });
  }

  bool on_validate(const Hdl& hdl) {
    auto con = server.get_con_from_hdl(hdl);
    PathParams params;
    const DialectRoute* d = route(con->get_resource(), params);
    if (!d) {
      con->set_status(websocketpp::http::status_code::not_found);
      return false;
    }
    if (d->pattern == "/socket.io/") {
      // Engine.IO's own checks; the token comes with Socket.IO's CONNECT.
      if (auto refused = engine->refuse_websocket(con->get_resource())) return refuse(con, *refused);
      return true;
    }
    if (d->pattern == "/ws/events") return true;  // it signs in with any role's token (EventStream)
    if (config.authorize) {
      if (auto allowed = config.authorize(con->get_request_header("Authorization"), con->get_resource()); !allowed)
        return refuse(con, allowed.error());
    }
    if (d->pattern == "/ws/agent" && config.agents) {
      if (auto id = agent_id_in(con->get_resource()); !id) return refuse(con, id.error());
    }
    return true;
  }

  // Answers a handshake with the error's HTTP status and JSON body.
  static bool refuse(const Server::connection_ptr& con, const core::Error& error) {
    return refuse(con, http::error_response(error));
  }
  static bool refuse(const Server::connection_ptr& con, const http::Response& refused) {
    con->set_status(static_cast<websocketpp::http::status_code::value>(refused.status));
    con->set_body(refused.body);
    for (const auto& [k, v] : refused.headers) con->replace_header(k, v);
    return false;
  }

  // Every request runs on the worker pool (handlers may read files or the store), then is
  // answered from the network thread. The lambdas hold the connection: nothing else keeps
  // a deferred one alive.
  void on_http(const Hdl& hdl) {
    auto con = server.get_con_from_hdl(hdl);
    http::Request request;
    request.method = con->get_request().get_method();
    request.target = con->get_resource();
    for (const auto& [k, v] : con->get_request().get_headers()) request.headers.emplace_back(k, v);
    request.body = con->get_request_body();
    con->defer_http_response();
    auto respond = [this, con](http::Response r) {
      asio::post(io, [con, r = std::move(r)] {
        con->set_status(static_cast<websocketpp::http::status_code::value>(r.status));
        con->set_body(r.body);  // first: a HEAD reply's own Content-Length must win
        for (const auto& [k, v] : r.headers) con->replace_header(k, v);
        // websocketpp closes an HTTP connection after its one response: say so, or a
        // keep-alive client (curl, fetch) sends its next request into a closed socket
        // (found by the REST benchmark: "Failed sending data to the peer").
        con->replace_header("Connection", "close");
        websocketpp::lib::error_code ec;
        con->send_http_response(ec);
      });
    };
    // Engine.IO's long-polling: its session's strand, not the HTTP threads (a POST carries
    // chunks to store; a GET may be held until there is something to send).
    if (EngineIo::owns(request.target)) return engine->handle_http(std::move(request), std::move(respond));
    asio::post(http_io, [this, request = std::move(request), respond = std::move(respond)]() mutable {
      respond(config.http ? config.http->handle(std::move(request))
                          : http::json_error(404, "not_found", "no HTTP routes are served"));
    });
  }

  void route_notice(const core::RecordingNotice& n) {
    std::shared_ptr<NoticeTarget> target;
    {
      std::lock_guard lock(mutex);
      auto it = watchers.find(n.recording.id);
      if (it == watchers.end()) return;
      target = it->second.lock();
      if (!target || core::is_terminal(n.recording.state)) watchers.erase(it);
    }
    if (target) target->deliver(n);
  }
};

WsServer::WsServer(WsServerConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {}

WsServer::~WsServer() { stop(); }

void WsServer::attach(core::RecordingService& service) { impl_->service = &service; }

core::Result<void> WsServer::start() {
  Impl& i = *impl_;
  if (!i.service) return core::fail(core::Errc::internal, "WsServer::start before attach");
  i.server.clear_access_channels(websocketpp::log::alevel::all);
  i.server.clear_error_channels(websocketpp::log::elevel::all);
  i.server.set_error_channels(websocketpp::log::elevel::fatal);
  websocketpp::lib::error_code ec;
  i.server.init_asio(&i.io, ec);
  if (ec) return core::fail(core::Errc::internal, fmt::format("cannot initialise the listener: {}", ec.message()));
  i.server.set_reuse_addr(true);
  // The largest message a dialect accepts: a chunk at its limit, base64-encoded in JSON.
  const std::uint64_t largest = std::max(i.config.action_limits.max_chunk_bytes, i.config.record_limits.max_chunk_bytes);
  const auto largest_message = static_cast<std::size_t>(largest / 3 * 4 + 4 + 64 * 1024);
  i.server.set_max_message_size(largest_message);
  {
    EngineIoConfig e;
    e.ping_interval = i.config.socketio_ping_interval;
    e.ping_timeout = i.config.socketio_ping_timeout;
    e.max_payload = largest_message;
    e.max_outgoing_bytes = i.config.max_outgoing_bytes;
    e.max_sessions = i.config.max_connections;
    e.cors_origins = i.config.socketio_cors_origins;
    EngineIoHost h{i.service, i.config.record_limits,
                   [&i](const core::RecordingId& id, std::weak_ptr<NoticeTarget> t) { i.watch(id, std::move(t)); },
                   [&i](const std::string& path, const std::string& host) { return i.media_url(path, host); },
                   i.config.authorize};
    i.engine = std::make_unique<EngineIo>(e, std::move(h), i.pool.get_executor());
  }
  i.server.set_validate_handler([&i](Hdl h) { return i.on_validate(h); });
  i.server.set_open_handler([&i](Hdl h) { i.on_open(h); });
  i.server.set_close_handler([&i](Hdl h) { i.on_close(h); });
  i.server.set_fail_handler([&i](Hdl h) { i.on_close(h); });
  i.server.set_message_handler([&i](Hdl h, Server::message_ptr m) { i.on_message(h, m); });
  i.server.set_http_handler([&i](Hdl h) { i.on_http(h); });

  asio::ip::tcp::endpoint endpoint(asio::ip::make_address(i.config.host, ec), i.config.port);
  if (ec) return core::fail(core::Errc::invalid_argument, fmt::format("server.listen: bad address '{}': {}", i.config.host, ec.message()));
  i.server.set_tcp_pre_bind_handler([&i](const auto& acceptor) {
    i.listen_fd = acceptor->native_handle();
    return websocketpp::lib::error_code();
  });
  {
    const auto r = http::json_error(503, "unavailable",
                                    fmt::format("recorderd has its most connections open (server.max_connections = "
                                                "{}); try again shortly",
                                                i.config.max_connections));
    i.over_cap_reply = fmt::format(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
        "Connection: close\r\nContent-Length: {}\r\n\r\n{}",
        r.body.size(), r.body);
  }
  i.spare_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  i.server.listen(endpoint, ec);
  if (ec)
    return core::fail(core::Errc::unavailable,
                      fmt::format("cannot listen on {}:{}: {}", i.config.host, i.config.port, ec.message()));
  i.accept_next();
  auto local = i.server.get_local_endpoint(ec);
  i.bound_port = local.port();
  for (std::size_t n = 0; n < std::max<std::size_t>(i.config.http_workers, 1); ++n) {
    i.http_threads.emplace_back([&i] {
      // Per thread on Linux: only these threads yield; failing to lower it changes nothing else.
      (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), i.config.http_nice);
      i.http_io.run();
    });
  }
  i.io_thread = std::thread([&i] { i.server.run(); });
  return core::ok();
}

std::uint16_t WsServer::port() const { return impl_->bound_port; }

std::size_t WsServer::connections() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->connections.size();
}

std::map<std::string, std::size_t> WsServer::connections_by_dialect() const {
  std::map<std::string, std::size_t> out;
  for (const auto& d : impl_->table) out[d.pattern] = 0;
  std::lock_guard lock(impl_->mutex);
  for (const auto& [h, c] : impl_->connections) ++out[c->dialect];
  // Socket.IO counts sessions, on long-polling or WebSocket (a probe is not one more).
  out["/socket.io/"] = impl_->engine ? impl_->engine->sessions() : 0;
  return out;
}

std::size_t WsServer::open_connections() const { return impl_->open_now.load(std::memory_order_relaxed); }

std::size_t WsServer::socketio_sessions() const { return impl_->engine ? impl_->engine->sessions() : 0; }

std::uint64_t WsServer::refused_connections() const { return impl_->refused_total.load(std::memory_order_relaxed); }

void WsServer::stop() {
  Impl& i = *impl_;
  if (!i.io_thread.joinable()) return;
  asio::post(i.io, [&i] {
    websocketpp::lib::error_code ec;
    i.stopping = true;
    i.accept_retry.cancel();
    i.server.stop_listening(ec);
    std::vector<Hdl> open;
    {
      std::lock_guard lock(i.mutex);
      for (const auto& [h, c] : i.connections) open.push_back(h);
    }
    for (const auto& h : open) i.server.close(h, websocketpp::close::status::going_away, "server shutting down", ec);
  });
  {
    // Close handshakes are quick on loopback; a client that never answers is cut after 5 s.
    std::unique_lock lock(i.mutex);
    i.drained.wait_for(lock, std::chrono::seconds(5), [&] { return i.connections.empty(); });
  }
  if (i.engine) i.engine->stop();  // polling sessions: their recordings enter grace
  i.server.stop();
  i.io_thread.join();
  i.http_work.reset();
  for (auto& t : i.http_threads) t.join();
  i.http_threads.clear();
  i.pool.join();
}

void WsServer::publish(const core::NoticeBody& n) {
  if (const auto* r = std::get_if<core::RecordingNotice>(&n)) impl_->route_notice(*r);
}

}  // namespace recorder::adapters::websocket
