#pragma once

#include "recorder/core/domain/state_machine.hpp"

namespace recorder::core {

// Deadlines per recording. At most one deadline of each kind per recording: arming again
// replaces it. When a deadline is due the adapter calls RecordingService::on_deadline, never
// from inside arm/cancel and never on the thread that keeps time, so that one deadline's
// database or disk work does not delay another's. Firing late or after a cancel is
// harmless: the core re-checks the condition. arm/cancel are called with the recording's
// own lock held: they must queue and return.
class Scheduler {
 public:
  virtual ~Scheduler() = default;
  virtual void arm(const RecordingId& id, DeadlineKind kind, MonoTime at) = 0;
  virtual void cancel(const RecordingId& id, DeadlineKind kind) = 0;
  virtual void cancel_all(const RecordingId& id) = 0;
};

}  // namespace recorder::core
