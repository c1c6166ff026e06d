#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace recorder::testing {

// Deterministic chunk bytes for (recording, index): a test can tell any chunk it finds on
// disk from what was sent, without keeping a copy.
inline std::vector<std::byte> chunk_content(const std::string& id, std::uint64_t index, std::size_t size) {
  std::vector<std::byte> out(size);
  std::uint64_t x = std::hash<std::string>{}(id) ^ (index * 0x9e3779b97f4a7c15ULL) ^ size;
  for (std::size_t i = 0; i < size; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    out[i] = static_cast<std::byte>(x & 0xff);
  }
  return out;
}

// Chunk sizes vary with the index so that kills land at many offsets.
inline std::size_t chunk_size_for(std::uint64_t index) { return 4096 + (index * 7919) % (192 * 1024); }

}  // namespace recorder::testing
