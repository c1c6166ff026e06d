#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "recorder/core/domain/types.hpp"

namespace recorder::core {

// Which chunk indices of a stream recording are durably stored. Kept as a set of
// half-open intervals, so an in-order recording of any length is one entry.
class ChunkLedger {
 public:
  bool contains(ChunkIndex index) const;

  // Records a durable chunk. Returns false (and changes nothing) for a duplicate.
  bool add(ChunkIndex index, std::uint64_t bytes);

  // One past the highest index held; 0 when empty. The server assigns this to a chunk
  // that arrives without an index.
  ChunkIndex next_index() const;

  // Indices below next_index() that are not held, ascending.
  std::vector<ChunkIndex> missing() const;
  bool complete() const { return intervals_.size() <= 1 && (intervals_.empty() || intervals_.begin()->first == 0); }

  std::uint64_t chunk_count() const { return count_; }
  std::uint64_t total_bytes() const { return bytes_; }
  bool empty() const { return count_ == 0; }

  // The held intervals [first, last) for persistence and inspection.
  const std::map<ChunkIndex, ChunkIndex>& intervals() const { return intervals_; }

  bool operator==(const ChunkLedger&) const = default;

 private:
  std::map<ChunkIndex, ChunkIndex> intervals_;  // first -> one past last
  std::uint64_t count_ = 0;
  std::uint64_t bytes_ = 0;
};

}  // namespace recorder::core
