#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace recorder::core {

// Durations and deadlines are measured on the monotonic face of the clock; what is shown
// to people and stored is wall time. See ports/clock.hpp.
using MonoTime = std::chrono::steady_clock::time_point;
using WallTime = std::chrono::system_clock::time_point;
using Duration = std::chrono::milliseconds;
using Seconds = std::chrono::seconds;

using RecordingId = std::string;
using ChunkIndex = std::uint64_t;

// Seconds as a double, for reporting durations ("duration_seconds": 45.2).
inline double to_seconds(Duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace recorder::core
