#include "daemon.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <csignal>
#include <filesystem>
#include <functional>
#include <list>
#include <mutex>
#include <thread>
#include <utility>

#include "web_assets.hpp"
#include "recorder/adapters/crypto/hmac_url_signer.hpp"
#include "recorder/adapters/crypto/openssl_secrets.hpp"
#include "recorder/adapters/fs/fs_chunk_store.hpp"
#include "recorder/adapters/fs/fs_finalizer.hpp"
#include "recorder/adapters/gstreamer/gst_capture.hpp"
#include "recorder/adapters/gstreamer/gst_media.hpp"
#include "recorder/adapters/postgres/postgres_listener.hpp"
#include "recorder/adapters/postgres/postgres_repository.hpp"
#include "recorder/adapters/sqlite/sqlite_repository.hpp"
#include "recorder/adapters/system/command_hook.hpp"
#include "recorder/adapters/system/log.hpp"
#include "recorder/adapters/system/log_sinks.hpp"
#include "recorder/adapters/system/random_id_generator.hpp"
#include "recorder/adapters/system/statvfs_storage_probe.hpp"
#include "recorder/adapters/system/system_clock.hpp"
#include "recorder/adapters/system/thread_scheduler.hpp"
#include "recorder/adapters/http/media.hpp"
#include "recorder/adapters/metrics/prometheus_metrics.hpp"
#include "recorder/adapters/http/router.hpp"
#include "recorder/adapters/rest/event_feed.hpp"
#include "recorder/adapters/rest/rest_api.hpp"
#include "recorder/adapters/websocket/ws_server.hpp"
#include "recorder/adapters/webhook/curl_channel_sender.hpp"
#include "recorder/adapters/webhook/standard_webhooks.hpp"
#include "recorder/adapters/worker_pool/worker_pool.hpp"
#include "recorder/core/app/access_service.hpp"
#include "recorder/core/app/outbox_dispatcher.hpp"
#include "recorder/core/app/inbound_hooks.hpp"
#include "recorder/core/app/lease_keeper.hpp"
#include "recorder/core/app/notice_text.hpp"
#include "recorder/core/app/webhook_delivery.hpp"
#include "version.hpp"

namespace recorder::app {
namespace {

using adapters::system::log;
using adapters::system::LogLevel;
using adapters::system::quote_value;


// What the service announces after each commit: the listener (a client waiting for its
// recording) and a wake-up for the outbox dispatcher, which delivers from the store.
class Announcer final : public core::EventPublisher {
 public:
  Announcer(core::EventPublisher& listener, core::EventPublisher& metrics, std::function<void()> wake)
      : listener_(listener), metrics_(metrics), wake_(std::move(wake)) {}
  // Port
  void publish(const core::NoticeBody& n) override {
    listener_.publish(n);
    metrics_.publish(n);
    wake_();
  }

 private:
  core::EventPublisher& listener_;
  core::EventPublisher& metrics_;
  std::function<void()> wake_;
};

// Each channel to the sender that speaks it: programs run here, the rest over libcurl.
class ChannelRouter final : public core::WebhookSender {
 public:
  ChannelRouter(core::WebhookSender& network, core::WebhookSender& commands) : network_(network), commands_(commands) {}
  // Port
  core::WebhookAttempt send(const core::WebhookEndpoint& e, const core::OutboxEntry& n) override {
    return pick(e).send(e, n);
  }
  bool applies(const core::WebhookEndpoint& e, const core::OutboxEntry& n) const override {
    return e.kind == core::ChannelKind::command ? commands_.applies(e, n) : network_.applies(e, n);
  }

 private:
  core::WebhookSender& pick(const core::WebhookEndpoint& e) {
    return e.kind == core::ChannelKind::command ? commands_ : network_;
  }
  core::WebhookSender& network_;
  core::WebhookSender& commands_;
};

// An open descriptor, closed with its owner (the SQLite lock file).
struct Descriptor {
  int fd = -1;
  Descriptor() = default;
  explicit Descriptor(int f) : fd(f) {}
  Descriptor(Descriptor&& o) noexcept : fd(std::exchange(o.fd, -1)) {}
  Descriptor& operator=(Descriptor&& o) noexcept {
    std::swap(fd, o.fd);  // what this held is closed with `o`
    return *this;
  }
  ~Descriptor() {
    if (fd >= 0) ::close(fd);
  }
};

// The store behind both of its ports.
struct Store {
  Descriptor lock;  // SQLite: keeps a second instance out; declared first, so released last
  std::unique_ptr<core::RecordingRepository> repository;
  core::OutboxStore* outbox = nullptr;  // the same object as repository
  core::TokenStore* tokens = nullptr;   // the same object as repository
  core::HookReceipts* receipts = nullptr;  // the same object as repository
  core::WebhookStore* webhook_store = nullptr;  // the same object as repository
  core::ClusterStore* cluster = nullptr;        // Postgres: the same object as repository; SQLite: none
};

// SQLite serves one instance: a second recorderd on the same database file is refused at
// start-up, by an exclusive lock on <data_dir>/recorderd.db.lock held for the process's
// life (released by the kernel even after kill -9). It names the holder's pid.
core::Result<Descriptor> lock_single_instance(const std::filesystem::path& data_dir) {
  const auto path = data_dir / "recorderd.db.lock";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    return core::fail(core::Errc::io_error, fmt::format("cannot open {}: {}", path.string(), std::strerror(errno)));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    char holder[32] = {};
    const ssize_t n = ::pread(fd, holder, sizeof holder - 1, 0);
    ::close(fd);
    std::string pid(holder, n > 0 ? static_cast<std::size_t>(n) : 0);
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
    return core::fail(core::Errc::id_taken,
                      fmt::format("another recorderd (pid {}) uses the SQLite database in {}: store.backend = sqlite "
                                  "serves one instance; run several on one Postgres (store.backend = postgres)",
                                  pid.empty() ? "?" : pid, data_dir.string()));
  }
  const std::string pid = fmt::format("{}\n", ::getpid());
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size()))
    log(LogLevel::warn, "msg=\"cannot write the pid into the lock file\" file={}", quote_value(path.string()));
  return Descriptor(fd);
}

core::Result<Store> open_store(const core::Config& config, const std::filesystem::path& data_dir) {
  Store store;
  if (config.store == core::StoreBackend::sqlite) {
    auto lock = lock_single_instance(data_dir);
    if (!lock) return std::unexpected(lock.error());
    store.lock = std::move(*lock);
    auto repo = adapters::sqlite::SqliteRepository::open(data_dir / "recorderd.db");
    if (!repo) return std::unexpected(repo.error());
    store.outbox = repo->get();
    store.tokens = repo->get();
    store.receipts = repo->get();
    store.webhook_store = repo->get();
    store.repository = std::move(*repo);
    return store;
  }
  auto repo = std::make_unique<adapters::postgres::PostgresRepository>(config.postgres_url);
  if (auto c = repo->connect(); !c) return std::unexpected(c.error());
  store.outbox = repo.get();
  store.tokens = repo.get();
  store.receipts = repo.get();
  store.webhook_store = repo.get();
  store.cluster = repo.get();
  store.repository = std::move(repo);
  return store;
}

// This instance as it joins a cluster: cluster.instance_id, or <hostname>-<random>.
core::InstanceInfo instance_info(const core::Config& c) {
  adapters::system::RandomIdGenerator random;
  core::InstanceInfo self;
  self.id = c.instance_id;
  if (self.id.empty()) {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') std::strcpy(host, "recorderd");
    std::string name;
    for (const char* p = host; *p != '\0' && name.size() < 48; ++p)
      name += std::isalnum(static_cast<unsigned char>(*p)) || *p == '.' || *p == '-' ? *p : '_';
    self.id = fmt::format("{}-{}", name, random.next().substr(0, 6));
  }
  self.incarnation = random.next();
  self.address = fmt::format("{}:{}", c.listen_host, c.listen_port);
  for (const core::Device& d : c.devices) self.devices.push_back(d.name);
  self.lease = std::chrono::seconds{c.lease_seconds};
  return self;
}

adapters::rest::EventFeedContext feed_context(core::RecordingService& service, core::AccessService& access,
                                              core::OutboxStore& outbox, const core::Clock& clock,
                                              const adapters::http::MediaLinks* links, const core::AgentChannel* agents,
                                              const core::Config& c, std::string subscriber,
                                              std::function<std::vector<core::WebhookHealth>()> webhooks) {
  adapters::rest::EventFeedContext ctx{service, access, outbox, clock, links, agents, c.devices, std::move(webhooks)};
  ctx.subscriber = std::move(subscriber);
  return ctx;
}

// server.max_connections, or 0 (the default): three quarters of the descriptor limit, the
// rest kept for recordings' files, the store and GStreamer.
std::size_t connection_cap(std::uint64_t configured) {
  if (configured > 0) return static_cast<std::size_t>(configured);
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return 0;
  return static_cast<std::size_t>(limit.rlim_cur / 4 * 3);
}

adapters::websocket::WsServerConfig listener_config(const core::Config& c, const adapters::http::Router& router,
                                                    core::OperatorLog& log, const adapters::http::MediaLinks& links,
                                                    const core::Clock& clock, core::AccessService& access,
                                                    adapters::websocket::AgentHub& agents,
                                                    adapters::websocket::EventStream& events) {
  adapters::websocket::WsServerConfig w;
  w.agents = &agents;
  w.events = &events;
  w.host = c.listen_host;
  w.port = c.listen_port;
  w.action_limits = c.action_limits;
  w.record_limits = c.record_limits;
  w.workers = c.workers;
  w.max_outgoing_bytes = c.max_outgoing_bytes;
  w.max_pending_bytes = c.max_pending_bytes;
  w.max_connections = connection_cap(c.max_connections);
  w.socketio_ping_interval = std::chrono::milliseconds{c.socketio_ping_interval_ms};
  w.socketio_ping_timeout = std::chrono::milliseconds{c.socketio_ping_timeout_ms};
  w.socketio_cors_origins = c.socketio_cors_origins;
  w.devices = c.devices;
  w.http = &router;
  w.log = &log;
  if (c.ingest_needs_token)
    w.authorize = [&access](const std::string& authorization, const std::string& resource) -> core::Result<void> {
      auto who = access.authenticate(adapters::http::handshake_token(authorization, resource));
      if (!who) return std::unexpected(who.error());
      return core::AccessService::authorize(*who, core::Role::operator_,
                                            fmt::format("recording over {} (auth.ingest = token)",
                                                        resource.substr(0, resource.find('?'))));
    };
  // Download URLs the dialects hand out are signed for 24 hours (seed 004).
  w.media_url = [&links, &clock](const std::string& stored_path, const std::string& host) {
    return links.link(stored_path, host, clock.wall_now() + std::chrono::hours{24}).url;
  };
  return w;
}

}  // namespace

struct Daemon::Impl {
  Impl(const core::Config& c, std::filesystem::path dir, Store s, std::vector<adapters::crypto::SigningKey> keys)
      : config(c),
        data_dir(std::move(dir)),
        store(std::move(s)),
        probe(data_dir.string()),
        keeper(store.cluster ? std::make_unique<core::LeaseKeeper>(*store.cluster, clock, oplog, instance_info(c),
                                                                   core::LeaseSettings{})
                             : nullptr),
        chunks(data_dir / "chunks", 2048, store.cluster != nullptr),  // Postgres: a volume other instances share
        finalizer(chunks, data_dir),
        converter(finalizer, data_dir),
        capture(c.devices, data_dir, c.keyframe_interval, c.allowed_urls),
        agents(clock),
        access(*store.tokens, secrets, clock),
        signer(std::move(keys)),
        links(signer, c.public_url, [this] { return fmt::format("{}:{}", config.listen_host, listener.port()); }),
        listener(listener_config(c, router, oplog, links, clock, access, agents, feed)),
        metrics(adapters::metrics::Readings{
            [this] { return service.live(); },
            [this] { return service.storage_status(); },
            [this] { return listener.connections_by_dialect(); },
            [this] { return listener.open_connections(); },
            [this] { return listener.refused_connections(); },
            [this] { return store.outbox->pending(log_notices.name()); },
            [this] { return webhook_health(); },
        }),
        events(listener, metrics, [this] { wake_dispatcher(); }),
        service(core::Ports{clock, scheduler, *store.repository, *store.outbox, chunks, converter, capture, agents, probe,
                            events, oplog, ids, keeper.get()},
                c.rules, c.storage),
        dispatcher(*store.outbox, oplog, clock),
        local_dispatcher(*store.outbox, oplog, clock),
        feed(feed_context(service, access, *store.outbox, clock, &links, &agents, c,
                          keeper ? "dashboard:" + keeper->instance() : std::string("dashboard"),
                          [this] { return webhook_health(); })),
        webhook_sender(adapters::webhook::Writers{[this](const core::OutboxEntry& e) {
                                                    // Links last as long as those the dialects hand out.
                                                    return adapters::rest::event_json(e, &links, link_expiry());
                                                  },
                                                  [this](const core::OutboxEntry& e) { return notice_text(e); }},
                       clock, c.delivery.timeout, fmt::format("recorderd/{}", RECORDERD_VERSION), c.smtp,
                       c.alerts.admin_emails),
        hook_runner(adapters::system::CommandHookSender::Writers{
                        [this](const core::OutboxEntry& e) { return adapters::rest::event_json(e, &links, link_expiry()); },
                        [this](const core::OutboxEntry& e) { return file_arguments(e); }},
                    c.hook_timeout),
        channels(webhook_sender, hook_runner),
        inbound(service, *store.receipts, clock) {
    std::vector<core::WebhookEndpoint> endpoints = c.webhooks;
    for (auto& channel : core::alert_channels(c)) endpoints.push_back(std::move(channel));
    if (auto hook = core::processing_hook(c)) endpoints.push_back(std::move(*hook));
    for (const core::WebhookEndpoint& endpoint : endpoints) {
      core::DeliveryPolicy policy = c.delivery;
      if (endpoint.kind != core::ChannelKind::webhook) policy.suppress_repeats = std::chrono::minutes{c.alerts.repeat_minutes};
      channel_list.emplace_back(std::make_unique<core::WebhookDelivery>(
          endpoint, policy, core::DeliveryPorts{*store.outbox, channels, oplog, clock, ids}), false);
    }
  }

  // A delivery channel and its thread. Those added over REST can be removed at run time.
  struct Channel {
    Channel(std::unique_ptr<core::WebhookDelivery> d, bool api) : delivery(std::move(d)), from_api(api) {}
    std::unique_ptr<core::WebhookDelivery> delivery;
    bool from_api = false;
    std::atomic<bool> removed{false};
    std::thread thread;
  };

  void start_channel(Channel& ch) {
    // Its place in the outbox from now, before any notice it must get is committed (in a
    // cluster only the leader delivers, but every instance commits).
    if (auto subscribed = ch.delivery->subscribe(); !subscribed)
      log(LogLevel::warn, "msg=\"a webhook endpoint could not subscribe to the outbox yet\" name={} error={}",
          quote_value(ch.delivery->endpoint().name), quote_value(subscribed.error().message));
    ch.thread = std::thread([this, &ch] { webhook_loop(ch); });
  }

  // The endpoints POST /api/webhooks added before, after the file's (a name the file uses
  // now wins, with a warning).
  void load_stored_endpoints() {
    auto stored = store.webhook_store->webhook_endpoints();
    if (!stored) {
      log(LogLevel::error, "msg=\"webhook endpoints added over REST could not be read\" error={}",
          quote_value(stored.error().message));
      return;
    }
    std::lock_guard lock(channels_mutex);
    for (auto& e : *stored) {
      if (named(e.name)) {
        log(LogLevel::warn, "msg=\"a webhook endpoint added over REST has the name of one in the config file; the "
                            "file's is used\" name={}",
            quote_value(e.name));
        continue;
      }
      channel_list.emplace_back(std::make_unique<core::WebhookDelivery>(
          std::move(e), config.delivery, core::DeliveryPorts{*store.outbox, channels, oplog, clock, ids}), true);
    }
  }

  // The webhook channel of that name, if any. Holds channels_mutex.
  Channel* named(const std::string& name) {
    for (auto& ch : channel_list) {
      const auto& e = ch.delivery->endpoint();
      if (e.kind == core::ChannelKind::webhook && e.name == name && !ch.removed) return &ch;
    }
    return nullptr;
  }

  // POST /api/webhooks: stored, then delivered to from now on.
  core::Result<core::WebhookHealth> add_endpoint(const std::vector<std::pair<std::string, std::string>>& fields) {
    auto e = core::parse_webhook_endpoint(fields, "POST /api/webhooks");
    if (!e) return std::unexpected(e.error());
    if (e->name.empty()) return core::fail(core::Errc::invalid_argument, "webhooks.name: required");
    if (auto signs = adapters::webhook::sign(e->secrets, "check", 0, ""); !signs)
      return core::fail(core::Errc::invalid_argument, fmt::format("webhooks.secret: {}", signs.error().message));
    std::lock_guard lock(channels_mutex);
    if (named(e->name))
      return core::fail(core::Errc::id_taken, fmt::format("webhooks.name: '{}' is used by another endpoint", e->name));
    auto added = store.webhook_store->add_webhook_endpoint(*e, clock.wall_now());
    if (!added) return std::unexpected(added.error());
    if (!*added)
      return core::fail(core::Errc::id_taken, fmt::format("webhooks.name: '{}' is used by another endpoint", e->name));
    Channel& ch = channel_list.emplace_back(std::make_unique<core::WebhookDelivery>(
        std::move(*e), config.delivery, core::DeliveryPorts{*store.outbox, channels, oplog, clock, ids}), true);
    start_channel(ch);
    log(LogLevel::info, "msg=\"webhook endpoint added\" name={} url={}", quote_value(ch.delivery->endpoint().name),
        quote_value(ch.delivery->endpoint().url));
    core::WebhookHealth h = ch.delivery->health();
    h.source = "api";
    return h;
  }

  // DELETE /api/webhooks/{name}: forgotten, with what it had not been given yet.
  core::Result<void> remove_endpoint(const std::string& name) {
    std::list<Channel> gone;
    {
      std::lock_guard lock(channels_mutex);
      Channel* ch = named(name);
      if (!ch) return core::fail(core::Errc::not_found, fmt::format("no webhook endpoint named '{}'", name));
      if (!ch->from_api)
        return core::fail(core::Errc::invalid_state,
                          fmt::format("webhook endpoint '{}' is in the config file: remove it there and restart", name));
      auto removed = store.webhook_store->remove_webhook_endpoint(name, ch->delivery->subscriber());
      if (!removed) return std::unexpected(removed.error());
      ch->removed = true;
      for (auto it = channel_list.begin(); it != channel_list.end(); ++it) {
        if (&*it == ch) {
          gone.splice(gone.begin(), channel_list, it);
          break;
        }
      }
    }
    dispatch_wake.notify_all();
    // Its thread ends after the request it may be making (at most delivery.timeout_seconds).
    if (gone.front().thread.joinable()) gone.front().thread.join();
    log(LogLevel::info, "msg=\"webhook endpoint removed\" name={}", quote_value(name));
    return core::ok();
  }

  core::WallTime link_expiry() const { return clock.wall_now() + std::chrono::hours{24}; }

  // The processing hook's arguments: the recording's files, as absolute paths.
  std::vector<std::string> file_arguments(const core::OutboxEntry& e) const {
    std::vector<std::string> out;
    if (const auto* n = std::get_if<core::RecordingNotice>(&e.body))
      for (const auto& f : n->recording.files) out.push_back((data_dir / f.path).string());
    return out;
  }

  // A notice as Slack and e-mail say it: with the recording as it is now (an alert carries
  // only its id) and a signed link to its file.
  core::NoticeText notice_text(const core::OutboxEntry& e) {
    std::optional<core::Recording> recording;
    if (const auto* n = std::get_if<core::RecordingNotice>(&e.body)) recording = n->recording;
    if (const auto* a = std::get_if<core::Alert>(&e.body); a && a->recording_id) {
      if (auto found = service.get(*a->recording_id)) recording = std::move(*found);
    }
    const core::MediaFile* file =
        recording && recording->state != core::State::deleted ? core::main_file(*recording) : nullptr;
    return core::describe(e.body, recording, file ? links.link(file->path, "", link_expiry()).url : std::string());
  }

  void add_routes();
  core::Result<void> media_access(const adapters::http::Request& r);

  // Whether this instance delivers the outbox (log, webhooks, alerts) now: alone, always;
  // in a cluster, while it holds the leader's lease and can confirm it.
  bool leads() const { return !keeper || (keeper->leader() && keeper->confirmed()); }

  void wake_dispatcher() {
    {
      std::lock_guard lock(dispatch_mutex);
      dispatch_woken = true;
      ++notices_committed;
    }
    dispatch_wake.notify_all();
  }

  // One webhook endpoint's thread: a pass when a notice is committed, at its retry's time,
  // and every second anyway. A slow endpoint holds up only this thread.
  void webhook_loop(Channel& ch) {
    core::WebhookDelivery& delivery = *ch.delivery;
    // Deliveries are background work: at nice +10, like the HTTP threads, they yield the
    // CPU to chunk acks (docs/performance.md, "Webhooks").
    (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 10);
    std::unique_lock lock(dispatch_mutex);
    while (!dispatch_stopping && !ch.removed) {
      const std::uint64_t seen = notices_committed;
      lock.unlock();
      const std::optional<core::MonoTime> next = leads() ? delivery.run_once() : std::nullopt;
      lock.lock();
      const core::MonoTime now = clock.monotonic_now();
      if (next && *next <= now) continue;
      const core::MonoTime until = next ? std::min(*next, now + std::chrono::seconds(1)) : now + std::chrono::seconds(1);
      dispatch_wake.wait_until(lock, until, [&] { return dispatch_stopping || ch.removed || notices_committed != seen; });
    }
  }

  // GET /api/webhooks: each endpoint's health with its outbox backlog.
  std::vector<core::WebhookHealth> webhook_health() {
    std::vector<core::WebhookHealth> out;
    std::lock_guard lock(channels_mutex);
    for (const auto& ch : channel_list) {
      core::WebhookHealth h = ch.delivery->health();
      h.source = ch.from_api ? "api" : "config";
      if (auto pending = store.outbox->pending(ch.delivery->subscriber())) h.pending = *pending;
      out.push_back(std::move(h));
    }
    return out;
  }

  // The outbox dispatcher's thread: a pass when woken by a commit, and every second anyway
  // (the store is the truth; a wake-up can be lost, a subscriber can fail).
  void dispatch_loop() {
    std::unique_lock lock(dispatch_mutex);
    while (!dispatch_stopping) {
      dispatch_woken = false;
      lock.unlock();
      const auto local = local_dispatcher.run_once();
      const auto pass = leads() ? dispatcher.run_once() : decltype(dispatcher.run_once()){};
      lock.lock();
      if ((pass.more && pass.delivered > 0) || (local.more && local.delivered > 0)) continue;  // a full batch: the next one at once
      dispatch_wake.wait_for(lock, std::chrono::seconds(1), [&] { return dispatch_stopping || dispatch_woken; });
    }
  }

  core::Config config;
  std::filesystem::path data_dir;
  Store store;
  adapters::system::SystemClock clock;
  adapters::system::RandomIdGenerator ids;
  adapters::system::LogOperatorLog oplog;
  adapters::system::StatvfsStorageProbe probe;
  // Postgres: this instance's leases among several (docs/adr/0017-cluster-leases.md); none on SQLite.
  std::unique_ptr<core::LeaseKeeper> keeper;
  adapters::system::ThreadScheduler cluster_timer;  // the keeper's tick, apart from the maintenance
  adapters::system::LogNoticeSubscriber log_notices;
  adapters::system::ThreadScheduler scheduler;    // keeps time for deadlines; handles none itself
  adapters::WorkerPool deadline_workers{4};       // where due deadlines are handled
  adapters::system::ThreadScheduler maintenance;  // flush and the storage check, apart from deadlines
  adapters::fs::FsChunkStore chunks;
  adapters::fs::FsFinalizer finalizer;        // the original file
  adapters::gstreamer::GstConverter converter;  // then wav or mp4, when asked
  adapters::gstreamer::GstCaptureDriver capture;
  adapters::websocket::AgentHub agents;  // /ws/agent's registry, and the core's channel to agents
  adapters::crypto::OpenSslSecrets secrets;
  core::AccessService access;     // before the listener, which checks tokens with it
  adapters::http::Router router;  // filled before the listener starts
  adapters::crypto::HmacUrlSigner signer;
  adapters::http::MediaLinks links;
  std::atomic<bool> stopping{false};
  adapters::websocket::WsServer listener;
  adapters::metrics::PrometheusMetrics metrics;  // reads the service at scrapes only, after start
  Announcer events;
  core::RecordingService service;
  core::OutboxDispatcher dispatcher;        // the log: on the leader only
  core::OutboxDispatcher local_dispatcher;  // this instance's dashboard watchers: on every instance
  adapters::rest::EventFeed feed;  // /ws/events; the listener holds its address from the start
  adapters::webhook::CurlChannelSender webhook_sender;  // webhooks, Slack and e-mail
  adapters::system::CommandHookSender hook_runner;      // hooks.on_ready
  ChannelRouter channels;
  core::InboundHooks inbound;  // POST /api/hooks/recordings
  std::mutex channels_mutex;      // guards channel_list (not the deliveries, which lock themselves)
  std::list<Channel> channel_list;  // every webhook endpoint and alert channel; stable addresses
  std::mutex dispatch_mutex;
  std::condition_variable dispatch_wake;  // the dispatcher's and the webhooks' threads wait on it
  bool dispatch_woken = false;
  std::uint64_t notices_committed = 0;
  bool dispatch_stopping = false;
  std::thread dispatch_thread;
  core::RecoveryReport recovery;
  bool stopped = false;
  // Postgres: wake-ups from the other instances (commands, answers, new notices); last, so
  // that it stops before what its callbacks use.
  std::unique_ptr<adapters::postgres::PostgresListener> cluster_listener;

  void listen_to_cluster() {
    const std::string me = keeper->instance();
    cluster_listener = std::make_unique<adapters::postgres::PostgresListener>(
        config.postgres_url, std::string(adapters::postgres::kNotifyChannel),
        [this, me](const std::string& payload) {
          if (payload == "command " + me) (void)keeper->handle_commands();
          else if (payload == "answer " + me) keeper->answer_arrived();
          else if (payload == "outbox") wake_dispatcher();
        },
        [this] {
          // A new connection: what was sent meanwhile is read from the tables.
          (void)keeper->handle_commands();
          keeper->answer_arrived();
          wake_dispatcher();
        });
    cluster_listener->start();
  }
};

// The HTTP request table: one line per route (the REST API adds its own).
void Daemon::Impl::add_routes() {
  namespace http = adapters::http;
  http::add_health_routes(
      router,
      {{"store",
        [this]() -> std::optional<std::string> {
          auto reachable = service.store_reachable();
          return reachable ? std::nullopt : std::optional{reachable.error().message};
        }},
       {"storage",
        [this]() -> std::optional<std::string> {
          auto status = service.storage_status();
          if (!status) return status.error().message;
          if (status->level == core::StorageLevel::block)
            return fmt::format("{:.1f}% used, at or above the block threshold ({}%)", status->used_percent,
                               config.storage.block_percent);
          return std::nullopt;
        }},
       {"shutdown", [this]() -> std::optional<std::string> {
          return stopping ? std::optional<std::string>{"recorderd is shutting down"} : std::nullopt;
        }}});
  // The dashboard at /, the recording page at /record, and what they load (web/, vendor/).
  // The dashboard runs only its own files; uPlot sets inline styles.
  for (const WebAsset& a : kWebAssets) {
    http::add_asset(router, std::string(a.path), std::string(a.type), a.body,
                    a.path == "/" ? "default-src 'self'; connect-src 'self'; media-src 'self'; img-src 'self' data:; "
                                    "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'"
                                  : "");
  }
  router.add("GET", "/favicon.ico", [](const http::Request&) { return http::Response{204, {}, ""}; });
  // websocketpp keeps whole bodies in memory: larger files are served by Range (ADR 0007).
  http::add_media_routes(router, data_dir / "recordings", 256ull * 1024 * 1024,
                         [this](const http::Request& r) { return media_access(r); });
  router.add("GET", "/metrics", [this](const http::Request& r) {
    if (auto who = access.authenticate(r.presented_token()); !who) return http::error_response(who.error());
    return http::text(200, metrics.render(), "text/plain; version=0.0.4; charset=utf-8");
  });
  adapters::rest::RestContext rest{service,
                                   access,
                                   clock,
                                   config.devices,
                                   config.allowed_urls,
                                   std::chrono::seconds{40},
                                   &links,
                                   std::chrono::hours{config.max_url_hours},
                                   &agents,
                                   [this] { return webhook_health(); },
                                   nullptr,
                                   nullptr,
                                   [this](const std::vector<std::pair<std::string, std::string>>& fields) {
                                     return add_endpoint(fields);
                                   },
                                   [this](const std::string& name) { return remove_endpoint(name); }};
  if (keeper) {
    rest.cluster = [this] { return store.cluster->view(); };
    rest.instance = keeper->instance();
    rest.lease = std::chrono::duration_cast<std::chrono::seconds>(keeper->lease());
  } else {
    rest.instance = "local";
  }
  if (!config.inbound_secrets.empty()) {
    rest.verify_hook = [this](const http::Request& r) {
      const auto now = std::chrono::duration_cast<std::chrono::seconds>(clock.wall_now().time_since_epoch()).count();
      return adapters::webhook::verify(config.inbound_secrets, r.header("webhook-id").value_or(""),
                                       r.header("webhook-timestamp").value_or(""),
                                       r.header("webhook-signature").value_or(""), r.body, now);
    };
    rest.inbound = &inbound;
  }
  adapters::rest::add_rest_routes(router, rest);
}

// Media opens with a signed URL (as handed out), or with a token of any role.
core::Result<void> Daemon::Impl::media_access(const adapters::http::Request& r) {
  const std::string_view target(r.target);
  const auto q = target.find('?');
  const std::string_view path = target.substr(0, q);
  const std::string_view query = q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
  const bool signed_url = query.starts_with("sig=") || query.find("&sig=") != std::string_view::npos;
  if (signed_url) return signer.verify(r.method, path, query, clock.wall_now());
  const std::string token = r.presented_token();
  if (token.empty())
    return core::fail(core::Errc::unauthenticated,
                      "media opens with a signed URL (exp, kid and sig, as recorderd hands them out) or a token");
  auto who = access.authenticate(token);
  if (!who) return std::unexpected(who.error());
  return core::ok();
}

namespace {

// First start: no token exists, so an admin token is made and written where recctl and an
// admin find it (0600, created exclusively: an existing file is never overwritten).
core::Result<void> write_admin_token(core::AccessService& access, const std::filesystem::path& data_dir) {
  auto made = access.bootstrap_admin();
  if (!made) return core::fail(made.error().code, fmt::format("cannot make the first admin token: {}", made.error().message));
  if (!*made) return core::ok();
  const auto path = data_dir / "admin.token";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    const int err = errno;
    (void)access.revoke((*made)->token.id);  // nobody could ever read it
    return core::fail(core::Errc::io_error, fmt::format("cannot write {}: {}", path.string(), std::strerror(err)));
  }
  const std::string text = (*made)->secret + "\n";
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!written) {
    (void)access.revoke((*made)->token.id);
    std::error_code ec;
    std::filesystem::remove(path, ec);
    return core::fail(core::Errc::io_error, fmt::format("cannot write {}", path.string()));
  }
  log(LogLevel::warn, "msg=\"first start: an admin token was made\" file={} token_id={} hint=\"recctl reads it from there; keep "
                      "it secret, make other tokens with POST /api/tokens\"",
      quote_value(path.string()), (*made)->token.id);
  return core::ok();
}

}  // namespace

Daemon::Daemon(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Daemon::~Daemon() { stop(); }

core::Result<std::unique_ptr<Daemon>> Daemon::start(const core::Config& config) {
  const std::filesystem::path data_dir = std::filesystem::absolute(config.data_dir);
  std::error_code ec;
  std::filesystem::create_directories(data_dir / "chunks", ec);
  if (ec)
    return core::fail(core::Errc::io_error,
                      fmt::format("cannot create server.data_dir {}: {}", data_dir.string(), ec.message()));
  auto store = open_store(config, data_dir);
  if (!store) return core::fail(store.error().code, fmt::format("cannot open the store: {}", store.error().message));

  const std::filesystem::path key_file =
      config.media_key_file.empty() ? data_dir / "media.keys" : std::filesystem::path(config.media_key_file);
  auto keys = adapters::crypto::load_or_create_signing_keys(key_file);
  if (!keys) return core::fail(keys.error().code, fmt::format("media.signing_key_file: {}", keys.error().message));

  // A secret that cannot sign stops start-up here, not at the first delivery.
  if (auto checked = adapters::webhook::sign(config.inbound_secrets, "check", 0, "");
      !config.inbound_secrets.empty() && !checked)
    return core::fail(core::Errc::invalid_argument, fmt::format("hooks.inbound_secret: {}", checked.error().message));
  for (const core::WebhookEndpoint& endpoint : config.webhooks) {
    if (auto signed_ = adapters::webhook::sign(endpoint.secrets, "check", 0, ""); !signed_)
      return core::fail(core::Errc::invalid_argument,
                        fmt::format("webhooks.secret of endpoint '{}': {}", endpoint.name, signed_.error().message));
  }
  // A hook's closed pipe must fail a write, not end the daemon (sockets use MSG_NOSIGNAL).
  ::signal(SIGPIPE, SIG_IGN);
  auto impl = std::make_unique<Impl>(config, data_dir, std::move(*store), std::move(*keys));
  Impl& i = *impl;
  i.capture.bind(i.service);
  i.service.set_observer(&i.metrics);
  i.listener.attach(i.service);
  i.scheduler.set_handler([&i](const core::RecordingId& id, core::DeadlineKind kind) { i.service.on_deadline(id, kind); });
  i.scheduler.set_executor([&i](adapters::system::ThreadScheduler::Task task) { i.deadline_workers.post(std::move(task)); });
  i.scheduler.start();
  if (auto added = i.dispatcher.add(i.log_notices); !added)
    return core::fail(added.error().code, fmt::format("cannot register the log with the outbox: {}", added.error().message));
  if (auto added = i.local_dispatcher.add(i.feed); !added)
    return core::fail(added.error().code, fmt::format("cannot register the dashboard with the outbox: {}", added.error().message));
  i.dispatch_thread = std::thread([&i] { i.dispatch_loop(); });
  i.load_stored_endpoints();
  {
    std::lock_guard lock(i.channels_mutex);
    for (auto& ch : i.channel_list) i.start_channel(ch);
  }
  std::unique_ptr<Daemon> daemon(new Daemon(std::move(impl)));

  // Alone, every unfinished recording is this instance's; in a cluster, those its id held
  // before and those whose owner's lease expired.
  if (i.keeper) i.keeper->bind(i.service);
  auto report = i.keeper ? i.keeper->start() : i.service.recover();
  if (!report) return core::fail(report.error().code, fmt::format("recovery failed: {}", report.error().message));
  i.recovery = std::move(*report);
  log(LogLevel::info, "msg=\"recovered unfinished recordings\" recovered={} left_alone={}", i.recovery.recovered,
      i.recovery.failed.size());
  if (i.keeper) {
    i.cluster_timer.every(std::chrono::duration_cast<core::Duration>(i.keeper->lease() / 3), [&i] {
      const core::LeaseTick t = i.keeper->tick();
      if (t.lost > 0 || t.claimed > 0)
        log(LogLevel::warn, "msg=\"cluster: leases moved\" instance={} lost={} claimed={} leader={}",
            i.keeper->instance(), t.lost, t.claimed, t.leader);
    });
    // Expired leases are looked for every second, not only at each tick.
    i.cluster_timer.every(std::min<core::Duration>(i.keeper->lease() / 3, std::chrono::seconds{1}), [&i] {
      if (const std::size_t n = i.keeper->sweep(); n > 0)
        log(LogLevel::warn, "msg=\"cluster: leases moved\" instance={} lost=0 claimed={}", i.keeper->instance(), n);
    });
    i.cluster_timer.start();
    i.listen_to_cluster();
  }
  for (const auto& e : i.recovery.failed) log(LogLevel::error, "msg=\"not recovered\" error={}", quote_value(e.message));

  // Errors of both reach the log and the outbox inside the service; the results are figures.
  // In a cluster the volume is shared: only the leader tells of its level (alerts once,
  // not once per instance); every instance acts on it.
  (void)i.service.check_storage(i.leads());
  i.maintenance.every(std::chrono::seconds{1}, [&i] {
    const std::size_t unsaved = i.service.flush();
    i.metrics.store_tick(i.service.store_reachable().has_value(), unsaved, std::chrono::seconds{1});
  });
  i.maintenance.every(config.storage_check_interval, [&i] { (void)i.service.check_storage(i.leads()); });
  i.maintenance.start();

  if (auto token = write_admin_token(i.access, data_dir); !token) return std::unexpected(token.error());
  i.add_routes();
  if (auto listening = i.listener.start(); !listening) return std::unexpected(listening.error());
  if (i.keeper) i.keeper->listening_at(fmt::format("{}:{}", config.listen_host, i.listener.port()));
  i.feed.start();
  const auto storage = i.probe.probe();
  log(LogLevel::info,
      "msg=\"recorderd started\" version={} listen={}:{} url=http://{}:{}/ data_dir={} store={} "
      "storage_used_percent={} max_connections={} instance={} leader={}",
      RECORDERD_VERSION, config.listen_host, i.listener.port(), config.listen_host, i.listener.port(),
      quote_value(data_dir.string()), config.store == core::StoreBackend::sqlite ? "sqlite" : "postgres",
      storage ? fmt::format("{:.1f}", storage->used_percent()) : "unknown", connection_cap(config.max_connections),
      i.keeper ? i.keeper->instance() : std::string("local"), i.leads());
  return daemon;
}

std::uint16_t Daemon::port() const { return impl_->listener.port(); }
const core::RecoveryReport& Daemon::recovery() const { return impl_->recovery; }
core::RecordingService& Daemon::service() { return impl_->service; }

void Daemon::stop() {
  Impl& i = *impl_;
  if (i.stopped) return;
  i.stopped = true;
  i.stopping = true;
  i.listener.stop();
  if (i.cluster_listener) i.cluster_listener->stop();  // no more commands from other instances
  i.feed.stop();
  i.service.shutdown();   // captures get EOS; their last segments close
  i.capture.stop_all();
  i.scheduler.stop();
  i.deadline_workers.stop();
  i.maintenance.stop();
  i.converter.stop();
  i.finalizer.stop();
  const std::size_t unsaved = i.service.flush();
  if (unsaved > 0) log(LogLevel::error, "msg=\"recordings not saved at exit\" count={}", unsaved);
  // What this instance held is free for the others at once (a stream it kept live is
  // resumed wherever its client reconnects).
  i.cluster_timer.stop();
  if (i.keeper) i.keeper->leave();
  {
    std::lock_guard lock(i.dispatch_mutex);
    i.dispatch_stopping = true;
  }
  i.webhook_sender.cancel();
  i.hook_runner.cancel();
  i.dispatch_wake.notify_all();
  if (i.dispatch_thread.joinable()) i.dispatch_thread.join();
  {
    std::lock_guard lock(i.channels_mutex);
    for (auto& ch : i.channel_list)
      if (ch.thread.joinable()) ch.thread.join();
  }
  // What is still undelivered stays in the outbox for the next start.
  (void)i.local_dispatcher.run_once();
  if (!i.keeper) (void)i.dispatcher.run_once();
  log(LogLevel::info, "msg=\"recorderd stopped\" live_recordings_kept={}", i.service.live().size());
}

int run_daemon(const core::Config& config) {
  auto daemon = Daemon::start(config);
  if (!daemon) {
    log(LogLevel::error, "msg=\"recorderd cannot start\" error={}", quote_value(daemon.error().message));
    return 1;
  }
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  int signal = 0;
  sigwait(&stop_signals, &signal);
  log(LogLevel::info, "msg=\"recorderd stopping\" signal={}", signal == SIGTERM ? "SIGTERM" : "SIGINT");
  (*daemon)->stop();
  return 0;
}

}  // namespace recorder::app
