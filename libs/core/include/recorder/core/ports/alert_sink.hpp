#pragma once

#include <optional>
#include <string>

#include "recorder/core/domain/state_machine.hpp"

namespace recorder::core {

struct Alert {
  std::string id;  // unique; receivers use it to drop repeats
  WallTime at;
  Severity severity;
  std::string message;
  std::optional<RecordingId> recording_id;
};

// Tells a person (webhook, Slack, e-mail). Must queue and return at once: it is called
// while the service holds its lock.
class AlertSink {
 public:
  virtual ~AlertSink() = default;
  virtual void alert(const Alert& a) = 0;
};

}  // namespace recorder::core
