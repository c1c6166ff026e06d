#pragma once

#include <optional>
#include <string>

#include "recorder/core/domain/recording.hpp"
#include "recorder/core/domain/state_machine.hpp"
#include "recorder/core/domain/storage_policy.hpp"

namespace recorder::core {

// Something happened to a recording; carries a snapshot of it after the change.
struct RecordingNotice {
  std::string event_id;  // unique; receivers use it to drop repeats
  WallTime at;
  Notice notice;
  Recording recording;
};

struct StorageNotice {
  std::string event_id;
  WallTime at;
  StorageLevel level;
  double used_percent;
};

// Fans events out to dialect sessions, webhooks and the dashboard. Must queue and return
// at once: it is called while the service holds its lock.
class EventPublisher {
 public:
  virtual ~EventPublisher() = default;
  virtual void publish(const RecordingNotice& n) = 0;
  virtual void publish(const StorageNotice& n) = 0;
};

}  // namespace recorder::core
