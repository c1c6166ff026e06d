#pragma once

#include <string>

#include "recorder/core/ports/storage_probe.hpp"

namespace recorder::adapters::system {

// Disk usage of the filesystem holding `path`, computed as seed 003 does: total is
// f_blocks, available is f_bavail (what an unprivileged writer may use).
class StatvfsStorageProbe final : public core::StorageProbe {
 public:
  explicit StatvfsStorageProbe(std::string path);
  // Port
  core::Result<core::StorageInfo> probe() const override;

 private:
  std::string path_;
};

}  // namespace recorder::adapters::system
