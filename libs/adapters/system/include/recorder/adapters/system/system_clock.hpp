#pragma once

#include "recorder/core/ports/clock.hpp"

namespace recorder::adapters::system {

// std::chrono::steady_clock and system_clock.
class SystemClock final : public core::Clock {
 public:
  // Port
  core::MonoTime monotonic_now() const override;
  core::WallTime wall_now() const override;
};

}  // namespace recorder::adapters::system
