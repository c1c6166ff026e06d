#include "daemon.hpp"

#include <csignal>
#include <filesystem>
#include <memory>

#include "recorder/adapters/fs/fs_chunk_store.hpp"
#include "recorder/adapters/fs/fs_finalizer.hpp"
#include "recorder/adapters/postgres/postgres_repository.hpp"
#include "recorder/adapters/sqlite/sqlite_repository.hpp"
#include "recorder/adapters/system/log.hpp"
#include "recorder/adapters/system/log_sinks.hpp"
#include "recorder/adapters/system/random_id_generator.hpp"
#include "recorder/adapters/system/statvfs_storage_probe.hpp"
#include "recorder/adapters/system/system_clock.hpp"
#include "recorder/adapters/system/thread_scheduler.hpp"
#include "recorder/core/app/recording_service.hpp"
#include "version.hpp"

namespace recorder::app {
namespace {

using adapters::system::log;
using adapters::system::LogLevel;
using adapters::system::quote_value;

// Capture needs GStreamer (media issue): every start fails, reported like a real failure
// so the core's retries and alert apply.
class UnavailableCapture final : public core::CaptureDriver {
 public:
  explicit UnavailableCapture(adapters::system::ThreadScheduler& scheduler) : scheduler_(scheduler) {}
  void bind(core::RecordingService& service) { service_ = &service; }
  // Port
  void start(const core::Recording& r) override {
    scheduler_.post([this, id = r.id] {
      service_->on_capture_start_failed(id, "capture is not available in this build (it needs the GStreamer adapter)");
    });
  }
  void stop(const core::RecordingId& id) override {
    scheduler_.post([this, id] { service_->on_capture_stopped(id); });
  }
  void rotate(const core::RecordingId&) override {}

 private:
  adapters::system::ThreadScheduler& scheduler_;
  core::RecordingService* service_ = nullptr;
};

// The agent dialect arrives with the daemon's WebSocket listener: no agent is connected.
class NoAgents final : public core::AgentChannel {
 public:
  // Port
  core::Result<void> send(const core::Recording& r, core::AgentCommandKind) override {
    return core::fail(core::Errc::agent_unavailable, "agent " + r.meta.agent_id + " is not connected");
  }
};

core::Result<std::unique_ptr<core::RecordingRepository>> open_store(const core::Config& config) {
  if (config.store == core::StoreBackend::sqlite) {
    auto repo = adapters::sqlite::SqliteRepository::open(std::filesystem::path(config.data_dir) / "recorderd.db");
    if (!repo) return std::unexpected(repo.error());
    return std::unique_ptr<core::RecordingRepository>(std::move(*repo));
  }
  auto repo = std::make_unique<adapters::postgres::PostgresRepository>(config.postgres_url);
  if (auto c = repo->connect(); !c) return std::unexpected(c.error());
  return std::unique_ptr<core::RecordingRepository>(std::move(repo));
}

}  // namespace

int run_daemon(const core::Config& config) {
  const std::filesystem::path data_dir = std::filesystem::absolute(config.data_dir);
  std::error_code ec;
  std::filesystem::create_directories(data_dir / "chunks", ec);
  if (ec) {
    log(LogLevel::error, "msg=\"cannot create server.data_dir\" path={} error={}", quote_value(data_dir.string()),
        quote_value(ec.message()));
    return 1;
  }
  auto store = open_store(config);
  if (!store) {
    log(LogLevel::error, "msg=\"cannot open the store\" backend={} error={}",
        config.store == core::StoreBackend::sqlite ? "sqlite" : "postgres", quote_value(store.error().message));
    return 1;
  }

  adapters::system::SystemClock clock;
  adapters::system::RandomIdGenerator ids;
  adapters::system::StatvfsStorageProbe probe(data_dir.string());
  adapters::system::LogAlertSink alerts;
  adapters::system::LogEventPublisher events;
  adapters::system::ThreadScheduler scheduler;
  adapters::fs::FsChunkStore chunks(data_dir / "chunks");
  adapters::fs::FsFinalizer finalizer(chunks, data_dir);
  UnavailableCapture capture(scheduler);
  NoAgents agents;
  core::RecordingService service(
      core::Ports{clock, scheduler, **store, chunks, finalizer, capture, agents, probe, alerts, events, ids},
      config.rules, config.storage);
  capture.bind(service);
  scheduler.set_handler([&](const core::RecordingId& id, core::DeadlineKind kind) { service.on_deadline(id, kind); });
  scheduler.start();

  auto report = service.recover();
  if (!report) {
    log(LogLevel::error, "msg=\"recovery failed\" error={}", quote_value(report.error().message));
    scheduler.stop();
    finalizer.stop();
    return 1;
  }
  log(LogLevel::info, "msg=\"recovered unfinished recordings\" recovered={} left_alone={}", report->recovered,
      report->failed.size());
  for (const auto& e : report->failed) log(LogLevel::error, "msg=\"not recovered\" error={}", quote_value(e.message));

  (void)service.check_storage();
  scheduler.every(std::chrono::seconds{1}, [&] { (void)service.flush(); });
  scheduler.every(config.storage_check_interval, [&] { (void)service.check_storage(); });

  const auto storage = probe.probe();
  log(LogLevel::info, "msg=\"recorderd started\" version={} listen={}:{} data_dir={} store={} storage_used_percent={}",
      RECORDERD_VERSION, config.listen_host, config.listen_port, quote_value(data_dir.string()),
      config.store == core::StoreBackend::sqlite ? "sqlite" : "postgres",
      storage ? fmt::format("{:.1f}", storage->used_percent()) : "unknown");
  log(LogLevel::warn, "msg=\"stream ingest is not served yet: this build recovers and finalizes what the store "
                      "holds, and serves no clients\"");

  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  int signal = 0;
  sigwait(&stop_signals, &signal);
  log(LogLevel::info, "msg=\"recorderd stopping\" signal={}", signal == SIGTERM ? "SIGTERM" : "SIGINT");

  service.shutdown();
  scheduler.stop();
  finalizer.stop();
  const std::size_t unsaved = service.flush();
  if (unsaved > 0) log(LogLevel::error, "msg=\"recordings not saved at exit\" count={}", unsaved);
  log(LogLevel::info, "msg=\"recorderd stopped\" live_recordings_kept={}", service.live().size());
  return 0;
}

}  // namespace recorder::app
