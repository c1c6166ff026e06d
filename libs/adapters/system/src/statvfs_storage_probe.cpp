#include "recorder/adapters/system/statvfs_storage_probe.hpp"

#include <sys/statvfs.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace recorder::adapters::system {

StatvfsStorageProbe::StatvfsStorageProbe(std::string path) : path_(std::move(path)) {}

core::Result<core::StorageInfo> StatvfsStorageProbe::probe() const {
  struct statvfs st{};
  if (::statvfs(path_.c_str(), &st) != 0) {
    const int err = errno;
    return core::fail(core::Errc::storage_unavailable,
                      fmt::format("Storage information unavailable: statvfs({}) failed: {}", path_, std::strerror(err)));
  }
  const std::uint64_t frsize = st.f_frsize;
  return core::StorageInfo{frsize * st.f_blocks, frsize * st.f_bavail};
}

}  // namespace recorder::adapters::system
