#include "recorder/adapters/system/system_clock.hpp"

namespace recorder::adapters::system {

core::MonoTime SystemClock::monotonic_now() const { return std::chrono::steady_clock::now(); }
core::WallTime SystemClock::wall_now() const { return std::chrono::system_clock::now(); }

}  // namespace recorder::adapters::system
