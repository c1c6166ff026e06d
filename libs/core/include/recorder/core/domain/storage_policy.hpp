#pragma once

#include <cstdint>
#include <string_view>

namespace recorder::core {

struct StorageInfo {
  std::uint64_t total_bytes = 0;
  std::uint64_t available_bytes = 0;  // what an unprivileged writer may still use

  // statvfs-style: (total - available) / total, in percent; 100 for an empty filesystem.
  double used_percent() const;
};

enum class StorageLevel { normal, warn, block };
std::string_view to_string(StorageLevel l);

// Seed 003: at or above warn an alert and a flag; at or above block nothing new starts
// and running recordings are stopped cleanly.
struct StoragePolicy {
  double warn_percent = 80;
  double block_percent = 90;

  // What a capture is assumed to write, to tell whether a requested duration fits.
  std::uint64_t capture_bytes_per_second = 500000;  // 4 Mbit/s

  StorageLevel level(const StorageInfo& info) const;
  // Bytes that may still be written before the block threshold is reached.
  std::uint64_t headroom(const StorageInfo& info) const;
};

}  // namespace recorder::core
