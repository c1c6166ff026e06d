#include "recorder/adapters/metrics/prometheus_metrics.hpp"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <array>
#include <map>
#include <mutex>
#include <sstream>
#include <unordered_map>

namespace recorder::adapters::metrics {
namespace {

constexpr std::array kKinds{core::SourceKind::stream, core::SourceKind::agent, core::SourceKind::capture};
constexpr std::array kStates{core::State::starting,   core::State::recording, core::State::interrupted,
                             core::State::stale,      core::State::stopping,  core::State::finalizing,
                             core::State::processing};  // the states a recording is active in

std::size_t kind_index(core::SourceKind k) {
  switch (k) {
    case core::SourceKind::stream: return 0;
    case core::SourceKind::agent: return 1;
    case core::SourceKind::capture: return 2;
  }
  return 0;
}

std::string label(std::string_view v) { return std::string(v); }

double seconds_between(core::WallTime from, core::WallTime to) {
  return std::max(0.0, std::chrono::duration<double>(to - from).count());
}

}  // namespace

struct PrometheusMetrics::Impl {
  explicit Impl(Readings r) : readings(std::move(r)) {
    for (std::size_t k = 0; k < kKinds.size(); ++k) {
      const auto kind = label(core::to_string(kKinds[k]));
      chunks[k] = &chunks_family.Add({{"kind", kind}});
      bytes[k] = &bytes_family.Add({{"kind", kind}});
    }
  }

  Readings readings;
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();

  prometheus::Family<prometheus::Gauge>& active_family =
      prometheus::BuildGauge()
          .Name("recorderd_recordings_active")
          .Help("Recordings not finished yet, by kind and state")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& finished_family =
      prometheus::BuildCounter()
          .Name("recorderd_recordings_finished_total")
          .Help("Recordings that reached ready or failed since start, by kind, outcome and stop reason")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& chunks_family =
      prometheus::BuildCounter()
          .Name("recorderd_chunks_received_total")
          .Help("Chunks stored durably (duplicates not counted), by kind")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& bytes_family =
      prometheus::BuildCounter()
          .Name("recorderd_received_bytes_total")
          .Help("Bytes of chunks stored durably, by kind")
          .Register(*registry);
  prometheus::Histogram& chunk_store =
      prometheus::BuildHistogram()
          .Name("recorderd_chunk_store_seconds")
          .Help("Time to store one chunk durably (write and fdatasync) before it is acknowledged")
          .Register(*registry)
          .Add({}, prometheus::Histogram::BucketBoundaries{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                            0.25, 0.5, 1, 2.5});
  prometheus::Counter& resumes =
      prometheus::BuildCounter()
          .Name("recorderd_stream_resumes_total")
          .Help("Streams resumed by their client within the grace period (seed 001)")
          .Register(*registry)
          .Add({});
  prometheus::Counter& grace_finalized =
      prometheus::BuildCounter()
          .Name("recorderd_stream_grace_finalizations_total")
          .Help("Streams finalized automatically after their client did not come back within grace (seed 001)")
          .Register(*registry)
          .Add({});
  prometheus::Counter& missing_chunks =
      prometheus::BuildCounter()
          .Name("recorderd_missing_chunks_total")
          .Help("Chunks missing from streams when they stopped")
          .Register(*registry)
          .Add({});
  prometheus::Histogram& finalize_seconds =
      prometheus::BuildHistogram()
          .Name("recorderd_finalize_duration_seconds")
          .Help("From a recording's stop to its original file being final")
          .Register(*registry)
          .Add({}, prometheus::Histogram::BucketBoundaries{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300});
  prometheus::Histogram& conversion_seconds =
      prometheus::BuildHistogram()
          .Name("recorderd_conversion_duration_seconds")
          .Help("Processing after finalize (conversion to wav or mp4, the seekable copy)")
          .Register(*registry)
          .Add({}, prometheus::Histogram::BucketBoundaries{0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600});
  prometheus::Family<prometheus::Counter>& alerts_family =
      prometheus::BuildCounter().Name("recorderd_alerts_total").Help("Alerts raised, by severity").Register(*registry);
  prometheus::Gauge& storage_used =
      prometheus::BuildGauge()
          .Name("recorderd_storage_used_bytes")
          .Help("Bytes used on the data directory's filesystem")
          .Register(*registry)
          .Add({});
  prometheus::Gauge& storage_free =
      prometheus::BuildGauge()
          .Name("recorderd_storage_free_bytes")
          .Help("Bytes an unprivileged writer may still use on the data directory's filesystem")
          .Register(*registry)
          .Add({});
  prometheus::Gauge& storage_level =
      prometheus::BuildGauge()
          .Name("recorderd_storage_level")
          .Help("The storage guard's level: 0 normal, 1 warn, 2 block")
          .Register(*registry)
          .Add({});
  prometheus::Counter& save_errors =
      prometheus::BuildCounter()
          .Name("recorderd_store_save_errors_total")
          .Help("Saves to the store that failed (the recording went on in memory)")
          .Register(*registry)
          .Add({});
  prometheus::Counter& outage_seconds =
      prometheus::BuildCounter()
          .Name("recorderd_store_outage_seconds_total")
          .Help("Seconds during which the store did not answer or rows waited to be saved")
          .Register(*registry)
          .Add({});
  prometheus::Gauge& unsaved =
      prometheus::BuildGauge()
          .Name("recorderd_store_unsaved_recordings")
          .Help("Recordings whose changes wait for the store to come back")
          .Register(*registry)
          .Add({});
  prometheus::Family<prometheus::Gauge>& websocket_family =
      prometheus::BuildGauge()
          .Name("recorderd_websocket_connections")
          .Help("Open WebSocket connections, by dialect path")
          .Register(*registry);
  prometheus::Gauge& open_connections =
      prometheus::BuildGauge()
          .Name("recorderd_connections_open")
          .Help("Open TCP connections (HTTP and WebSocket), as counted for server.max_connections")
          .Register(*registry)
          .Add({});
  prometheus::Counter& refused_connections =
      prometheus::BuildCounter()
          .Name("recorderd_connections_refused_total")
          .Help("Connections answered 503 for server.max_connections")
          .Register(*registry)
          .Add({});
  prometheus::Gauge& outbox_pending =
      prometheus::BuildGauge()
          .Name("recorderd_outbox_pending_notices")
          .Help("Notices in the outbox not yet handed to the log")
          .Register(*registry)
          .Add({});

  prometheus::Family<prometheus::Counter>& webhook_delivered =
      prometheus::BuildCounter()
          .Name("recorderd_webhook_deliveries_total")
          .Help("Notices an endpoint accepted (2xx), by endpoint")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& webhook_failed =
      prometheus::BuildCounter()
          .Name("recorderd_webhook_failed_attempts_total")
          .Help("Delivery attempts that failed (no answer, or not 2xx), by endpoint")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& webhook_gave_up =
      prometheus::BuildCounter()
          .Name("recorderd_webhook_gave_up_total")
          .Help("Notices whose delivery gave up after the last retry (each is also an alert), by endpoint")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& webhook_pending =
      prometheus::BuildGauge()
          .Name("recorderd_webhook_pending_notices")
          .Help("Notices in the outbox not yet delivered to an endpoint, by endpoint")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& webhook_enabled =
      prometheus::BuildGauge()
          .Name("recorderd_webhook_enabled")
          .Help("1 while an endpoint is delivered to, 0 once it answered 410, by endpoint")
          .Register(*registry);

  std::array<prometheus::Counter*, 3> chunks{};
  std::array<prometheus::Counter*, 3> bytes{};

  std::mutex mutex;  // guards processing_since; never held while calling out
  std::unordered_map<core::RecordingId, core::WallTime> processing_since;
  std::mutex scrape_mutex;  // one scrape at a time; the readings are called with it held
  double refused_seen = 0;
  std::map<std::string, std::array<double, 3>> webhook_seen;  // delivered, failed, gave up: as last scraped

  // A counter brought up to `now`, a figure read at the scrape that only grows while the
  // process lives.
  static void catch_up(prometheus::Counter& c, double now, double& seen) {
    if (now > seen) c.Increment(now - seen);
    seen = std::max(seen, now);
  }

  void scrape() {
    if (readings.live) {
      std::array<std::array<double, kStates.size()>, kKinds.size()> counts{};
      for (const auto& r : readings.live()) {
        for (std::size_t s = 0; s < kStates.size(); ++s) {
          if (r.state == kStates[s]) counts[kind_index(r.kind)][s] += 1;
        }
      }
      for (std::size_t k = 0; k < kKinds.size(); ++k)
        for (std::size_t s = 0; s < kStates.size(); ++s)
          active_family.Add({{"kind", label(core::to_string(kKinds[k]))}, {"state", label(core::to_string(kStates[s]))}})
              .Set(counts[k][s]);
    }
    if (readings.storage) {
      if (auto s = readings.storage()) {
        const auto total = static_cast<double>(s->info.total_bytes);
        const auto free = static_cast<double>(s->info.available_bytes);
        storage_used.Set(std::max(0.0, total - free));
        storage_free.Set(free);
        storage_level.Set(s->level == core::StorageLevel::normal ? 0 : s->level == core::StorageLevel::warn ? 1 : 2);
      }
    }
    if (readings.websocket_connections)
      for (const auto& [dialect, n] : readings.websocket_connections())
        websocket_family.Add({{"dialect", dialect}}).Set(static_cast<double>(n));
    if (readings.open_connections) open_connections.Set(static_cast<double>(readings.open_connections()));
    if (readings.refused_connections)
      catch_up(refused_connections, static_cast<double>(readings.refused_connections()), refused_seen);
    if (readings.outbox_pending) {
      if (auto n = readings.outbox_pending()) outbox_pending.Set(static_cast<double>(*n));
    }
    if (readings.webhooks) {
      for (const auto& h : readings.webhooks()) {
        const prometheus::Labels endpoint{{"endpoint", h.endpoint.name}};
        auto& seen = webhook_seen[h.endpoint.name];
        catch_up(webhook_delivered.Add(endpoint), static_cast<double>(h.delivered), seen[0]);
        catch_up(webhook_failed.Add(endpoint), static_cast<double>(h.failed_attempts), seen[1]);
        catch_up(webhook_gave_up.Add(endpoint), static_cast<double>(h.gave_up), seen[2]);
        if (h.pending) webhook_pending.Add(endpoint).Set(static_cast<double>(*h.pending));
        webhook_enabled.Add(endpoint).Set(h.enabled ? 1 : 0);
      }
    }
  }

  void on_recording(const core::RecordingNotice& n) {
    const auto& r = n.recording;
    switch (n.notice) {
      case core::Notice::resumed: resumes.Increment(); break;
      case core::Notice::stopped:
        if (r.stop_reason == core::StopReason::disconnect) grace_finalized.Increment();
        break;
      case core::Notice::processing: {
        std::lock_guard lock(mutex);
        processing_since[r.id] = n.at;
        if (r.stopped_at) finalize_seconds.Observe(seconds_between(*r.stopped_at, n.at));
        break;
      }
      case core::Notice::ready:
      case core::Notice::failed: {
        finished_family
            .Add({{"kind", label(core::to_string(r.kind))},
                  {"outcome", label(core::to_string(r.outcome))},
                  {"stop_reason", label(core::to_string(r.stop_reason))}})
            .Increment();
        if (r.kind == core::SourceKind::stream) missing_chunks.Increment(static_cast<double>(r.missing_chunks.size()));
        std::lock_guard lock(mutex);
        if (auto it = processing_since.find(r.id); it != processing_since.end()) {
          conversion_seconds.Observe(seconds_between(it->second, n.at));
          processing_since.erase(it);
        } else if (r.stopped_at) {
          finalize_seconds.Observe(seconds_between(*r.stopped_at, n.at));
        }
        break;
      }
      default: break;
    }
  }
};

PrometheusMetrics::PrometheusMetrics(Readings readings) : impl_(std::make_unique<Impl>(std::move(readings))) {}
PrometheusMetrics::~PrometheusMetrics() = default;

void PrometheusMetrics::chunk_stored(core::SourceKind kind, std::uint64_t bytes, core::Duration took) {
  const auto k = kind_index(kind);
  impl_->chunks[k]->Increment();
  impl_->bytes[k]->Increment(static_cast<double>(bytes));
  impl_->chunk_store.Observe(std::chrono::duration<double>(took).count());
}

void PrometheusMetrics::save_failed() { impl_->save_errors.Increment(); }

void PrometheusMetrics::publish(const core::NoticeBody& n) {
  if (const auto* r = std::get_if<core::RecordingNotice>(&n)) impl_->on_recording(*r);
  if (const auto* a = std::get_if<core::Alert>(&n))
    impl_->alerts_family.Add({{"severity", label(core::to_string(a->severity))}}).Increment();
}

void PrometheusMetrics::store_tick(bool reachable, std::size_t unsaved, std::chrono::seconds elapsed) {
  impl_->unsaved.Set(static_cast<double>(unsaved));
  if (!reachable || unsaved > 0) impl_->outage_seconds.Increment(static_cast<double>(elapsed.count()));
}

std::string PrometheusMetrics::render() {
  // Not `mutex`: notices are published with a recording's lock held, and the readings
  // take the service's own locks, so holding both here could close a cycle.
  std::lock_guard lock(impl_->scrape_mutex);
  impl_->scrape();
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, impl_->registry->Collect());
  return out.str();
}

}  // namespace recorder::adapters::metrics
