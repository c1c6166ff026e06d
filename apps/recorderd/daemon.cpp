#include "daemon.hpp"

#include <csignal>
#include <filesystem>

#include "index_html.hpp"
#include "recorder/adapters/fs/fs_chunk_store.hpp"
#include "recorder/adapters/fs/fs_finalizer.hpp"
#include "recorder/adapters/gstreamer/gst_capture.hpp"
#include "recorder/adapters/gstreamer/gst_media.hpp"
#include "recorder/adapters/postgres/postgres_repository.hpp"
#include "recorder/adapters/sqlite/sqlite_repository.hpp"
#include "recorder/adapters/system/log.hpp"
#include "recorder/adapters/system/log_sinks.hpp"
#include "recorder/adapters/system/random_id_generator.hpp"
#include "recorder/adapters/system/statvfs_storage_probe.hpp"
#include "recorder/adapters/system/system_clock.hpp"
#include "recorder/adapters/system/thread_scheduler.hpp"
#include "recorder/adapters/websocket/ws_server.hpp"
#include "version.hpp"

namespace recorder::app {
namespace {

using adapters::system::log;
using adapters::system::LogLevel;
using adapters::system::quote_value;

// The agent dialect is not served yet: no agent is ever connected.
class NoAgents final : public core::AgentChannel {
 public:
  // Port
  core::Result<void> send(const core::Recording& r, core::AgentCommandKind) override {
    return core::fail(core::Errc::agent_unavailable, "agent " + r.meta.agent_id + " is not connected");
  }
};

// Every notice to the log and to the listener (which tells the client its recording is ready).
class Fanout final : public core::EventPublisher {
 public:
  Fanout(core::EventPublisher& a, core::EventPublisher& b) : a_(a), b_(b) {}
  // Port
  void publish(const core::RecordingNotice& n) override {
    a_.publish(n);
    b_.publish(n);
  }
  void publish(const core::StorageNotice& n) override {
    a_.publish(n);
    b_.publish(n);
  }

 private:
  core::EventPublisher& a_;
  core::EventPublisher& b_;
};

core::Result<std::unique_ptr<core::RecordingRepository>> open_store(const core::Config& config,
                                                                     const std::filesystem::path& data_dir) {
  if (config.store == core::StoreBackend::sqlite) {
    auto repo = adapters::sqlite::SqliteRepository::open(data_dir / "recorderd.db");
    if (!repo) return std::unexpected(repo.error());
    return std::unique_ptr<core::RecordingRepository>(std::move(*repo));
  }
  auto repo = std::make_unique<adapters::postgres::PostgresRepository>(config.postgres_url);
  if (auto c = repo->connect(); !c) return std::unexpected(c.error());
  return std::unique_ptr<core::RecordingRepository>(std::move(repo));
}

adapters::websocket::WsServerConfig listener_config(const core::Config& c, const std::filesystem::path& data_dir) {
  adapters::websocket::WsServerConfig w;
  w.host = c.listen_host;
  w.port = c.listen_port;
  w.data_dir = data_dir;
  w.action_limits = c.action_limits;
  w.record_limits = c.record_limits;
  w.index_html = std::string(kIndexHtml);
  w.workers = c.workers;
  w.max_outgoing_bytes = c.max_outgoing_bytes;
  w.max_pending_bytes = c.max_pending_bytes;
  w.devices = c.devices;
  return w;
}

}  // namespace

struct Daemon::Impl {
  Impl(const core::Config& c, std::filesystem::path dir, std::unique_ptr<core::RecordingRepository> repo)
      : config(c),
        data_dir(std::move(dir)),
        store(std::move(repo)),
        probe(data_dir.string()),
        chunks(data_dir / "chunks"),
        finalizer(chunks, data_dir),
        converter(finalizer, data_dir),
        capture(std::map<std::string, std::string>(c.devices.begin(), c.devices.end()), data_dir, c.keyframe_interval),
        listener(listener_config(c, data_dir)),
        events(log_events, listener),
        service(core::Ports{clock, scheduler, *store, chunks, converter, capture, agents, probe, alerts, events, ids},
                c.rules, c.storage) {}

  core::Config config;
  std::filesystem::path data_dir;
  std::unique_ptr<core::RecordingRepository> store;
  adapters::system::SystemClock clock;
  adapters::system::RandomIdGenerator ids;
  adapters::system::StatvfsStorageProbe probe;
  adapters::system::LogAlertSink alerts;
  adapters::system::LogEventPublisher log_events;
  adapters::system::ThreadScheduler scheduler;
  adapters::fs::FsChunkStore chunks;
  adapters::fs::FsFinalizer finalizer;        // the original file
  adapters::gstreamer::GstConverter converter;  // then wav or mp4, when asked
  adapters::gstreamer::GstCaptureDriver capture;
  NoAgents agents;
  adapters::websocket::WsServer listener;
  Fanout events;
  core::RecordingService service;
  core::RecoveryReport recovery;
  bool stopped = false;
};

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

  auto impl = std::make_unique<Impl>(config, data_dir, std::move(*store));
  Impl& i = *impl;
  i.capture.bind(i.service);
  i.listener.attach(i.service);
  i.scheduler.set_handler([&i](const core::RecordingId& id, core::DeadlineKind kind) { i.service.on_deadline(id, kind); });
  i.scheduler.start();
  std::unique_ptr<Daemon> daemon(new Daemon(std::move(impl)));

  auto report = i.service.recover();
  if (!report) return core::fail(report.error().code, fmt::format("recovery failed: {}", report.error().message));
  i.recovery = std::move(*report);
  log(LogLevel::info, "msg=\"recovered unfinished recordings\" recovered={} left_alone={}", i.recovery.recovered,
      i.recovery.failed.size());
  for (const auto& e : i.recovery.failed) log(LogLevel::error, "msg=\"not recovered\" error={}", quote_value(e.message));

  (void)i.service.check_storage();
  i.scheduler.every(std::chrono::seconds{1}, [&i] { (void)i.service.flush(); });
  i.scheduler.every(config.storage_check_interval, [&i] { (void)i.service.check_storage(); });

  if (auto listening = i.listener.start(); !listening) return std::unexpected(listening.error());
  const auto storage = i.probe.probe();
  log(LogLevel::info,
      "msg=\"recorderd started\" version={} listen={}:{} url=http://{}:{}/ data_dir={} store={} "
      "storage_used_percent={}",
      RECORDERD_VERSION, config.listen_host, i.listener.port(), config.listen_host, i.listener.port(),
      quote_value(data_dir.string()), config.store == core::StoreBackend::sqlite ? "sqlite" : "postgres",
      storage ? fmt::format("{:.1f}", storage->used_percent()) : "unknown");
  return daemon;
}

std::uint16_t Daemon::port() const { return impl_->listener.port(); }
const core::RecoveryReport& Daemon::recovery() const { return impl_->recovery; }
core::RecordingService& Daemon::service() { return impl_->service; }

void Daemon::stop() {
  Impl& i = *impl_;
  if (i.stopped) return;
  i.stopped = true;
  i.listener.stop();
  i.service.shutdown();   // captures get EOS; their last segments close
  i.capture.stop_all();
  i.scheduler.stop();
  i.converter.stop();
  i.finalizer.stop();
  const std::size_t unsaved = i.service.flush();
  if (unsaved > 0) log(LogLevel::error, "msg=\"recordings not saved at exit\" count={}", unsaved);
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
