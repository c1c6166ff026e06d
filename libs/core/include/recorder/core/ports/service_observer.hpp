#pragma once

#include <cstdint>

#include "recorder/core/domain/recording.hpp"
#include "recorder/core/domain/types.hpp"

namespace recorder::core {

// What the service tells about its work as it happens, for metrics (what notices do not
// carry). Called with a recording's lock held, from any thread: an implementation only
// counts, never blocks and never calls back into the service.
class ServiceObserver {
 public:
  virtual ~ServiceObserver() = default;
  // A chunk was written durably (not a duplicate); `took` is the chunk store's time for it.
  virtual void chunk_stored(SourceKind kind, std::uint64_t bytes, Duration took) = 0;
  // A save to the store failed (the recording goes on in memory).
  virtual void save_failed() = 0;
};

}  // namespace recorder::core
