// The config file (CLI11's TOML subset) through the daemon's loader: any bytes give a
// Config or an error naming the problem.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "config_loader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const int fd = ::memfd_create("recorderd-config-fuzz", MFD_CLOEXEC);
  if (fd < 0) std::abort();
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, data, size, 0) != static_cast<ssize_t>(size)) std::abort();
  recorder::app::ConfigSources sources;
  sources.file = "/proc/self/fd/" + std::to_string(fd);
  auto config = recorder::app::load_config(sources);
  if (!config && config.error().message.empty()) std::abort();
  return 0;
}
