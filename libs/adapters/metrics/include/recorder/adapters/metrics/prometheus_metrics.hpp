#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "recorder/core/app/recording_service.hpp"
#include "recorder/core/app/webhook_delivery.hpp"
#include "recorder/core/ports/event_publisher.hpp"
#include "recorder/core/ports/service_observer.hpp"

namespace recorder::adapters::metrics {

// What is read at each scrape (each may be empty: the metric is then left out).
struct Readings {
  std::function<std::vector<core::Recording>()> live;
  std::function<core::Result<core::StorageStatus>()> storage;
  std::function<std::map<std::string, std::size_t>()> websocket_connections;  // by dialect path
  std::function<std::size_t()> open_connections;                             // TCP, HTTP included
  std::function<std::uint64_t()> refused_connections;                        // since start
  std::function<core::Result<std::uint64_t>()> outbox_pending;
  std::function<std::vector<core::WebhookHealth>()> webhooks;  // each endpoint, its backlog filled in
};

// recorderd's metrics (docs/operations.md, "Metrics"), in the Prometheus text format.
// Counters come from the service as it works (ServiceObserver) and from the notices it
// publishes after each commit (EventPublisher); gauges are read at each scrape. No label
// carries a recording id. prometheus-cpp stays in the .cpp. Any thread.
class PrometheusMetrics final : public core::ServiceObserver, public core::EventPublisher {
 public:
  explicit PrometheusMetrics(Readings readings);
  ~PrometheusMetrics() override;
  PrometheusMetrics(const PrometheusMetrics&) = delete;
  PrometheusMetrics& operator=(const PrometheusMetrics&) = delete;

  // Ports
  void chunk_stored(core::SourceKind kind, std::uint64_t bytes, core::Duration took) override;
  void save_failed() override;
  void publish(const core::NoticeBody& n) override;

  // The daemon's maintenance tick: whether the store answered and how many recordings
  // wait to be saved; `elapsed` since the last tick counts as outage while either is bad.
  void store_tick(bool reachable, std::size_t unsaved, std::chrono::seconds elapsed);

  // The text exposition format 0.0.4.
  std::string render();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace recorder::adapters::metrics
