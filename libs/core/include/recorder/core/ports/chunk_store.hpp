#pragma once

#include <cstddef>
#include <span>

#include "recorder/core/domain/chunk_ledger.hpp"
#include "recorder/core/domain/error.hpp"

namespace recorder::core {

// The bytes of stream recordings: the source of truth for what was accepted.
class ChunkStore {
 public:
  virtual ~ChunkStore() = default;
  // Stores chunk `index` of the recording and returns only once it is durable (synced).
  // ENOSPC is Errc::storage_full, other write failures Errc::io_error; a failed chunk is not
  // stored and must not be acknowledged. The core never writes an index twice. May block;
  // called with only that recording's own lock held, concurrently for different recordings.
  [[nodiscard]] virtual Result<void> put(const RecordingId& id, ChunkIndex index, std::span<const std::byte> bytes) = 0;
  // What is durably stored for the recording, verified (recovery after a crash).
  [[nodiscard]] virtual Result<ChunkLedger> scan(const RecordingId& id) = 0;
  // Deletes the recording's chunks (admin delete only; never on failure).
  [[nodiscard]] virtual Result<void> remove(const RecordingId& id) = 0;
  // Drops what this process keeps of the recording between calls (open files, what it
  // verified): another process may write it next (an instance that took it over in a
  // cluster). The next put or scan reads the files again.
  virtual void forget(const RecordingId& id) = 0;
};

}  // namespace recorder::core
