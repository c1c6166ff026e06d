#include "recorder/adapters/system/random_id_generator.hpp"

#include <fmt/format.h>

namespace recorder::adapters::system {

RandomIdGenerator::RandomIdGenerator() {
  std::random_device device;
  std::seed_seq seed{device(), device(), device(), device(), device(), device(), device(), device()};
  engine_.seed(seed);
}

std::string RandomIdGenerator::next() {
  std::uint64_t hi = 0;
  std::uint64_t lo = 0;
  {
    std::lock_guard lock(mutex_);
    hi = engine_();
    lo = engine_();
  }
  hi = (hi & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
  lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // RFC 4122 variant
  return fmt::format("{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", hi >> 32, (hi >> 16) & 0xffff, hi & 0xffff, lo >> 48,
                     lo & 0xffffffffffffULL);
}

}  // namespace recorder::adapters::system
