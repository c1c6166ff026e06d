#pragma once

#include <string_view>

#include "recorder/core/domain/state_machine.hpp"

namespace recorder::core {

// The daemon's own log, written at once. Errors of background work (a deadline, a
// finalize callback, a save that failed) go here immediately and, as an Alert, into the
// outbox, which may be unreachable at that moment. Any thread; must not block for long.
class OperatorLog {
 public:
  virtual ~OperatorLog() = default;
  virtual void write(Severity severity, std::string_view message) = 0;
};

}  // namespace recorder::core
