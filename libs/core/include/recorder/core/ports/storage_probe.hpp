#pragma once

#include "recorder/core/domain/error.hpp"
#include "recorder/core/domain/storage_policy.hpp"

namespace recorder::core {

// How full the recordings' filesystem is (statvfs). Cheap; any thread.
class StorageProbe {
 public:
  virtual ~StorageProbe() = default;
  [[nodiscard]] virtual Result<StorageInfo> probe() const = 0;
};

}  // namespace recorder::core
