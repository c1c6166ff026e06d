// Engine.IO v4 on /socket.io/: see engine_io.hpp and docs/protocol.md section 8.

#include "engine_io.hpp"

#include <openssl/rand.h>

#include <algorithm>

#include <asio/bind_executor.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <fmt/format.h>

#include "socketio.hpp"

namespace recorder::adapters::websocket {
namespace {

using socketio::EioPacket;
using socketio::EioType;

// Engine.IO's own errors (engine.io's Server.errors), as its server words them.
enum EioError { unknown_transport = 0, unknown_sid = 1, bad_handshake_method = 2, bad_request = 3, forbidden = 4, unsupported_version = 5 };

http::Response eio_error(EioError code) {
  static constexpr const char* messages[] = {"Transport unknown", "Session ID unknown", "Bad handshake method",
                                             "Bad request", "Forbidden", "Unsupported protocol version"};
  http::Response r;
  r.status = code == forbidden ? 403 : 400;
  r.body = fmt::format(R"({{"code":{},"message":"{}"}})", static_cast<int>(code), messages[code]);
  r.set_header("Content-Type", "application/json");
  return r;
}

http::Response plain(std::string body, std::string content_type = "text/plain; charset=UTF-8") {
  http::Response r;
  r.body = std::move(body);
  r.set_header("Content-Type", std::move(content_type));
  r.set_header("Cache-Control", "no-store");
  return r;
}

std::string random_id() {
  unsigned char bytes[15];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("RAND_bytes failed");
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  for (std::size_t i = 0; i < sizeof bytes; i += 3) {
    const unsigned v = (unsigned{bytes[i]} << 16) | (unsigned{bytes[i + 1]} << 8) | unsigned{bytes[i + 2]};
    for (int s = 18; s >= 0; s -= 6) out += alphabet[(v >> s) & 63];
  }
  return out;
}

struct Query {
  std::string eio, transport, sid;
};

core::Result<Query> query_of(std::string_view target) {
  const auto q = target.find('?');
  auto params = http::parse_query(q == std::string_view::npos ? std::string_view{} : target.substr(q + 1));
  if (!params) return std::unexpected(params.error());
  Query out;
  for (auto& [k, v] : *params) {
    if (k == "EIO") out.eio = v;
    else if (k == "transport") out.transport = v;
    else if (k == "sid") out.sid = v;
  }
  return out;
}

}  // namespace

// One Engine.IO session. Everything but deliver() runs on `strand`.
struct EngineIo::Session final : Outbox, SessionHost, NoticeTarget, std::enable_shared_from_this<Session> {
  Session(EngineIo& e, std::string id, Handshake h, std::weak_ptr<Outbox> w, const void* key)
      : engine(e),
        sid(std::move(id)),
        handshake(std::move(h)),
        strand(asio::make_strand(e.pool_)),
        on_websocket(key != nullptr),
        ws(std::move(w)),
        ws_key(key),
        ping_timer(strand),
        pong_timer(strand),
        connect_timer(strand),
        upgrade_timer(strand) {}

  EngineIo& engine;
  const std::string sid;
  const Handshake handshake;
  Strand strand;
  std::unique_ptr<socketio::Session> sio;
  bool on_websocket;               // the WebSocket is the transport (directly or upgraded)
  std::weak_ptr<Outbox> ws;        // that WebSocket
  const void* ws_key = nullptr;    // its identity
  std::weak_ptr<Outbox> probe;     // a WebSocket that is upgrading this polling session
  const void* probe_key = nullptr;
  bool probing = false;            // the probe answered; polling is told to pause
  bool closed = false;
  std::vector<std::string> queue;  // packets for the next poll
  std::size_t queued_bytes = 0;
  Respond pending_get;             // the long-poll being held
  asio::steady_timer ping_timer, pong_timer, connect_timer, upgrade_timer;

  const EngineIoConfig& config() const { return engine.config_; }

  // The Socket.IO session's outbox: one Engine.IO message each.
  void send_text(std::string text) override { send_packet("4" + text); }
  void close(std::string reason, std::uint16_t) override { end(reason); }
  void watch(const core::RecordingId& id) override { engine.host_.watch(id, weak_from_this()); }
  std::string download_url(const std::string& path) const override {
    return engine.host_.download_url(path, handshake.host);
  }
  void deliver(const core::RecordingNotice& n) override {
    asio::post(strand, [self = shared_from_this(), n] {
      if (!self->closed) self->sio->on_notice(n);
    });
  }

  void start() {
    socketio::SessionContext ctx{DialectContext{*engine.host_.service, *this, *this, engine.host_.limits}, random_id(),
                                 {}};
    if (engine.host_.authorize) {
      ctx.authorize = [this](const std::string& token) {
        // The token from CONNECT's auth payload; else the handshake's header or ?access_token=.
        if (!token.empty()) return engine.host_.authorize("Bearer " + token, "/socket.io/");
        return engine.host_.authorize(handshake.authorization, handshake.resource);
      };
    }
    sio = socketio::make_session(std::move(ctx));
    schedule_ping();
    connect_timer.expires_after(config().connect_timeout);
    connect_timer.async_wait([self = shared_from_this()](const std::error_code& ec) {
      if (!ec && !self->sio->connected()) self->end("no Socket.IO CONNECT in time");
    });
  }

  std::string open_packet() const {
    return fmt::format(R"(0{{"sid":"{}","upgrades":[{}],"pingInterval":{},"pingTimeout":{},"maxPayload":{}}})", sid,
                       on_websocket ? "" : R"("websocket")", config().ping_interval.count(),
                       config().ping_timeout.count(), config().max_payload);
  }

  void schedule_ping() {
    ping_timer.expires_after(config().ping_interval);
    ping_timer.async_wait([self = shared_from_this()](const std::error_code& ec) {
      if (ec || self->closed) return;
      self->send_packet("2");
      self->pong_timer.expires_after(self->config().ping_timeout);
      self->pong_timer.async_wait([self](const std::error_code& e) {
        if (!e) self->end("ping timeout");
      });
    });
  }

  void send_packet(std::string packet) {
    if (closed) return;
    if (on_websocket) {
      if (auto w = ws.lock()) w->send_text(std::move(packet));
      return;
    }
    queued_bytes += packet.size();
    queue.push_back(std::move(packet));
    if (queued_bytes > config().max_outgoing_bytes)
      return end(fmt::format("the client does not poll ({} bytes waiting, more than server.max_outgoing_bytes)",
                             queued_bytes));
    flush();
  }

  void flush() {
    if (!pending_get || queue.empty()) return;
    std::string body = socketio::encode_payload(queue);
    queue.clear();
    queued_bytes = 0;
    answer_get(std::move(body));
  }

  void answer_get(std::string body) {
    Respond r = std::move(pending_get);
    pending_get = nullptr;
    r(plain(std::move(body)));
  }

  // Ends the session once: the long-poll is told, the WebSockets closed, and the recordings
  // started here enter grace.
  void end(const std::string& why) {
    if (closed) return;
    closed = true;
    for (auto* t : {&ping_timer, &pong_timer, &connect_timer, &upgrade_timer}) t->cancel();
    if (pending_get) answer_get("1");
    queue.clear();
    if (auto w = ws.lock()) w->close(why.substr(0, 120), 1000);
    if (auto p = probe.lock()) p->close(why.substr(0, 120), 1000);
    if (sio) sio->on_close();
    engine.forget(sid);
  }

  // ---- polling ------------------------------------------------------------------------

  void poll_get(Respond respond) {
    if (closed) return respond(eio_error(unknown_sid));
    if (on_websocket) return respond(eio_error(bad_request));
    if (pending_get) {
      // One long-poll per session: a second is the client's error and ends the session.
      respond(eio_error(bad_request));
      return end("two long-polls at once");
    }
    pending_get = std::move(respond);
    if (probing && queue.empty()) return answer_get("6");
    flush();
  }

  void poll_post(const std::string& body, Respond respond) {
    if (closed) return respond(eio_error(unknown_sid));
    if (on_websocket) return respond(eio_error(bad_request));
    if (body.size() > config().max_payload) {
      http::Response r = plain("payload too large");
      r.status = 413;
      respond(std::move(r));
      return end("a POST larger than maxPayload");
    }
    auto packets = socketio::decode_payload(body);
    if (!packets) {
      respond(eio_error(bad_request));
      return end(packets.error().message);
    }
    for (auto& p : *packets) {
      if (closed) break;
      packet(std::move(p));
    }
    respond(plain("ok", "text/html"));
  }

  // A packet of the session's transport.
  void packet(EioPacket&& p) {
    switch (p.type) {
      case EioType::message:
        if (!p.unreadable.empty()) sio->on_unreadable_binary(p.unreadable);
        else if (p.binary) sio->on_binary(std::move(p.data));
        else sio->on_text(std::move(p.data));
        return;
      case EioType::pong:
        pong_timer.cancel();
        return schedule_ping();
      case EioType::close: return end("the client closed");
      case EioType::noop: return;
      case EioType::ping: return send_packet("3" + p.data);  // Engine.IO v3 habits; harmless
      case EioType::open:
      case EioType::upgrade: return end(fmt::format("an unexpected packet '{}'", static_cast<char>(p.type)));
    }
  }

  // ---- WebSocket ----------------------------------------------------------------------

  void ws_text(const void* key, std::string&& text) {
    if (closed) return;
    auto p = socketio::decode_packet(std::move(text));
    if (on_websocket) {
      if (key != ws_key) return;  // a probe that lost the race
      if (!p) return end(p.error().message);
      return packet(std::move(*p));
    }
    if (key != probe_key) return;
    // The upgrade: 2probe -> 3probe, the long-poll told to pause (noop), then 5.
    auto w = probe.lock();
    if (p && p->type == EioType::ping && p->data == "probe" && w) {
      w->send_text("3probe");
      probing = true;
      if (pending_get) answer_get("6");
      upgrade_timer.expires_after(config().upgrade_timeout);
      upgrade_timer.async_wait([self = shared_from_this()](const std::error_code& ec) {
        if (!ec) self->drop_probe("no upgrade packet in time");
      });
      return;
    }
    if (p && p->type == EioType::upgrade && probing && w) {
      upgrade_timer.cancel();
      on_websocket = true;
      ws = probe;
      ws_key = probe_key;
      probe_key = nullptr;
      probe.reset();
      probing = false;
      if (pending_get) answer_get("6");
      for (auto& q : queue) w->send_text(std::move(q));
      queue.clear();
      queued_bytes = 0;
      return;
    }
    drop_probe(p ? "an unexpected packet during the upgrade" : p.error().message);
  }

  void ws_binary(const void* key, std::string&& bytes) {
    if (closed) return;
    if (!on_websocket) {
      if (key == probe_key) drop_probe("binary data during the upgrade");
      return;
    }
    if (key == ws_key) sio->on_binary(std::move(bytes));
  }

  void ws_closed(const void* key) {
    if (closed) return;
    if (key != ws_key || !on_websocket) {
      if (key != probe_key) return;
      // The upgrade failed; polling goes on.
      probe.reset();
      probe_key = nullptr;
      probing = false;
      upgrade_timer.cancel();
      return;
    }
    end("the WebSocket closed");
  }

  void drop_probe(const std::string& why) {
    if (auto w = probe.lock()) w->close(why, 1002);
    probe.reset();
    probe_key = nullptr;
    probing = false;
  }
};

// The DialectSession of a WebSocket on /socket.io/: its messages go to its Engine.IO session.
struct EngineIo::WsTransport final : DialectSession {
  WsTransport(std::shared_ptr<Session> s, const void* k, bool direct) : session(std::move(s)), key(k), fresh(direct) {}
  std::shared_ptr<Session> session;  // none: the session ended before the WebSocket opened
  const void* key;
  bool fresh;
  std::weak_ptr<Outbox> self;

  void on_open() override {
    if (!session) {
      if (auto w = self.lock()) w->close("Session ID unknown", 1000);
      return;
    }
    if (fresh) {
      if (auto w = self.lock()) w->send_text(session->open_packet());
      session->start();
    }
  }
  void on_text(std::string&& text) override {
    if (session) session->ws_text(key, std::move(text));
  }
  void on_binary(std::string&& bytes) override {
    if (session) session->ws_binary(key, std::move(bytes));
  }
  void on_close() override {
    if (session) session->ws_closed(key);
  }
  void on_notice(const core::RecordingNotice&) override {}
};

EngineIo::EngineIo(EngineIoConfig config, EngineIoHost host, asio::thread_pool::executor_type pool)
    : config_(config), host_(std::move(host)), pool_(std::move(pool)) {}

EngineIo::~EngineIo() = default;

bool EngineIo::owns(std::string_view target) {
  const auto path = target.substr(0, target.find('?'));
  return path == "/socket.io/" || path == "/socket.io";
}

std::shared_ptr<EngineIo::Session> EngineIo::find(const std::string& sid) const {
  std::lock_guard lock(mutex_);
  auto it = sessions_.find(sid);
  return it == sessions_.end() ? nullptr : it->second;
}

std::shared_ptr<EngineIo::Session> EngineIo::create(Handshake handshake, std::weak_ptr<Outbox> ws, const void* key) {
  auto s = std::make_shared<Session>(*this, random_id(), std::move(handshake), std::move(ws), key);
  std::lock_guard lock(mutex_);
  if (stopping_ || (config_.max_sessions > 0 && sessions_.size() >= config_.max_sessions)) return nullptr;
  sessions_.emplace(s->sid, s);
  return s;
}

void EngineIo::forget(const std::string& sid) {
  std::lock_guard lock(mutex_);
  sessions_.erase(sid);
}

std::size_t EngineIo::sessions() const {
  std::lock_guard lock(mutex_);
  return sessions_.size();
}

void EngineIo::handle_http(http::Request request, Respond respond) {
  // CORS, for a page on another site that long-polls: an allowed Origin is echoed on every
  // answer, and a preflight is answered here. A disallowed one gets no header, and the
  // browser keeps the answer from the page.
  if (auto origin = request.header("Origin"); origin && !config_.cors_origins.empty()) {
    const bool allowed = std::ranges::any_of(config_.cors_origins, [&](const std::string& o) { return o == "*" || o == *origin; });
    if (allowed) {
      respond = [respond = std::move(respond), origin = *origin](http::Response r) {
        r.set_header("Access-Control-Allow-Origin", origin);
        r.set_header("Access-Control-Allow-Credentials", "true");
        r.set_header("Vary", "Origin");
        respond(std::move(r));
      };
    }
    if (request.method == "OPTIONS") {
      http::Response r;
      r.status = 204;
      if (allowed) {
        r.set_header("Access-Control-Allow-Methods", "GET, POST");
        r.set_header("Access-Control-Allow-Headers", request.header("Access-Control-Request-Headers").value_or("content-type"));
        r.set_header("Access-Control-Max-Age", "600");
      }
      return respond(std::move(r));
    }
  }
  auto q = query_of(request.target);
  if (!q) return respond(eio_error(bad_request));
  if (q->eio != "4") return respond(eio_error(unsupported_version));
  if (q->transport != "polling" && q->transport != "websocket") return respond(eio_error(unknown_transport));
  if (q->sid.empty()) {
    if (request.method != "GET") return respond(eio_error(bad_handshake_method));
    if (q->transport != "polling") return respond(eio_error(bad_request));  // a WebSocket needs its upgrade
    Handshake h{request.target, request.header("Host").value_or(""), request.header("Authorization").value_or("")};
    auto s = create(std::move(h), {}, nullptr);
    if (!s) {
      return respond(http::json_error(503, "unavailable",
                                      fmt::format("recorderd opens no more Socket.IO sessions now (it is shutting "
                                                  "down, or {} are open: server.max_connections); try again shortly",
                                                  config_.max_sessions)));
    }
    asio::post(s->strand, [s, respond = std::move(respond)] {
      respond(plain(s->open_packet()));
      s->start();
    });
    return;
  }
  auto s = find(q->sid);
  if (!s) return respond(eio_error(unknown_sid));
  if (q->transport != "polling") return respond(eio_error(bad_request));
  if (request.method == "GET") {
    asio::post(s->strand, [s, respond = std::move(respond)]() mutable { s->poll_get(std::move(respond)); });
  } else if (request.method == "POST") {
    asio::post(s->strand, [s, body = std::move(request.body), respond = std::move(respond)]() mutable {
      s->poll_post(body, std::move(respond));
    });
  } else {
    respond(eio_error(bad_request));
  }
}

std::optional<http::Response> EngineIo::refuse_websocket(const std::string& resource) const {
  auto q = query_of(resource);
  if (!q) return eio_error(bad_request);
  if (q->eio != "4") return eio_error(unsupported_version);
  if (q->transport != "websocket") return eio_error(unknown_transport);
  if (q->sid.empty()) return std::nullopt;
  if (!find(q->sid)) return eio_error(unknown_sid);
  return std::nullopt;
}

EngineIo::WebSocket EngineIo::open_websocket(std::weak_ptr<Outbox> ws, Handshake handshake) {
  auto q = query_of(handshake.resource);
  const void* key = ws.lock().get();
  if (q && !q->sid.empty()) {
    auto s = find(q->sid);
    if (!s) {
      auto t = std::make_unique<WsTransport>(nullptr, key, false);
      t->self = ws;
      return {std::move(t), asio::make_strand(pool_)};
    }
    Strand strand = s->strand;
    // Registered on the strand, before the transport's first message (same strand, later).
    asio::post(strand, [s, ws, key] {
      if (s->closed || s->on_websocket || s->probe_key) {
        if (auto w = ws.lock()) w->close("this session cannot be upgraded now", 1000);
        return;
      }
      s->probe = ws;
      s->probe_key = key;
    });
    auto t = std::make_unique<WsTransport>(s, key, false);
    t->self = ws;
    return {std::move(t), strand};
  }
  auto s = create(std::move(handshake), ws, key);
  auto t = std::make_unique<WsTransport>(s, key, true);
  t->self = ws;
  if (!s) {
    if (auto w = ws.lock()) w->close("no more Socket.IO sessions now (server.max_connections, or shutting down)", 1013);
    return {std::move(t), asio::make_strand(pool_)};
  }
  Strand strand = s->strand;
  return {std::move(t), strand};
}

void EngineIo::stop() {
  std::vector<std::shared_ptr<Session>> all;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;  // no new session: its timers would hold the pool's join
    for (auto& [sid, s] : sessions_) all.push_back(s);
  }
  for (auto& s : all) asio::post(s->strand, [s] { s->end("server shutting down"); });
}

}  // namespace recorder::adapters::websocket
