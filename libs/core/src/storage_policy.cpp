#include "recorder/core/domain/storage_policy.hpp"

namespace recorder::core {

double StorageInfo::used_percent() const {
  if (total_bytes == 0) return 100.0;
  const std::uint64_t available = available_bytes > total_bytes ? total_bytes : available_bytes;
  return 100.0 * static_cast<double>(total_bytes - available) / static_cast<double>(total_bytes);
}

std::string_view to_string(StorageLevel l) {
  switch (l) {
    case StorageLevel::normal: return "normal";
    case StorageLevel::warn: return "warn";
    case StorageLevel::block: return "block";
  }
  return "unknown";
}

StorageLevel StoragePolicy::level(const StorageInfo& info) const {
  const double used = info.used_percent();
  if (used >= block_percent) return StorageLevel::block;
  if (used >= warn_percent) return StorageLevel::warn;
  return StorageLevel::normal;
}

std::uint64_t StoragePolicy::headroom(const StorageInfo& info) const {
  const auto reserve = static_cast<std::uint64_t>(static_cast<double>(info.total_bytes) * (100.0 - block_percent) / 100.0);
  return info.available_bytes > reserve ? info.available_bytes - reserve : 0;
}

}  // namespace recorder::core
