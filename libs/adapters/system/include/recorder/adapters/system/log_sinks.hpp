#pragma once

#include "recorder/core/ports/alert_sink.hpp"
#include "recorder/core/ports/event_publisher.hpp"

namespace recorder::adapters::system {

// Alerts as log lines (warn or error), until the webhook, Slack and e-mail sinks exist.
class LogAlertSink final : public core::AlertSink {
 public:
  // Port
  void alert(const core::Alert& a) override;
};

// One log line per recording notice (a transition) and per storage level change.
class LogEventPublisher final : public core::EventPublisher {
 public:
  // Port
  void publish(const core::RecordingNotice& n) override;
  void publish(const core::StorageNotice& n) override;
};

}  // namespace recorder::adapters::system
