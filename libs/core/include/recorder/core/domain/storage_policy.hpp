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

  StorageLevel level(const StorageInfo& info) const;
};

}  // namespace recorder::core
