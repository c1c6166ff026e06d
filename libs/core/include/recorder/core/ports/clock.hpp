#pragma once

#include "recorder/core/domain/types.hpp"

namespace recorder::core {

// Time, with two faces. The core never reads std::chrono clocks itself.
class Clock {
 public:
  virtual ~Clock() = default;
  // For durations and deadlines; never jumps. Any thread.
  virtual MonoTime monotonic_now() const = 0;
  // For what is stored and shown (UTC). Any thread.
  virtual WallTime wall_now() const = 0;
};

}  // namespace recorder::core
