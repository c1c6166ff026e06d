#pragma once

#include "recorder/core/domain/state_machine.hpp"

namespace recorder::core {

// Deadlines per recording. At most one deadline of each kind per recording: arming again
// replaces it. When a deadline is due the adapter calls RecordingService::on_deadline from
// its own thread (never from inside arm/cancel). Firing late or after a cancel is harmless:
// the core re-checks the condition.
class Scheduler {
 public:
  virtual ~Scheduler() = default;
  virtual void arm(const RecordingId& id, DeadlineKind kind, MonoTime at) = 0;
  virtual void cancel(const RecordingId& id, DeadlineKind kind) = 0;
  virtual void cancel_all(const RecordingId& id) = 0;
};

}  // namespace recorder::core
