#include "recorder/core/domain/chunk_ledger.hpp"

#include <iterator>

namespace recorder::core {

bool ChunkLedger::contains(ChunkIndex index) const {
  auto it = intervals_.upper_bound(index);
  if (it == intervals_.begin()) return false;
  --it;
  return index < it->second;
}

bool ChunkLedger::add(ChunkIndex index, std::uint64_t bytes) {
  if (contains(index)) return false;
  ChunkIndex first = index;
  ChunkIndex last = index + 1;
  // Merge with the interval that ends exactly at `index`.
  auto next = intervals_.upper_bound(index);
  if (next != intervals_.begin()) {
    auto prev = std::prev(next);
    if (prev->second == index) {
      first = prev->first;
      intervals_.erase(prev);
    }
  }
  // Merge with the interval that starts right after it.
  if (next != intervals_.end() && next->first == last) {
    last = next->second;
    intervals_.erase(next);
  }
  intervals_.emplace(first, last);
  ++count_;
  bytes_ += bytes;
  return true;
}

ChunkIndex ChunkLedger::next_index() const {
  return intervals_.empty() ? 0 : std::prev(intervals_.end())->second;
}

std::vector<ChunkIndex> ChunkLedger::missing() const {
  std::vector<ChunkIndex> out;
  ChunkIndex expected = 0;
  for (const auto& [first, last] : intervals_) {
    for (ChunkIndex i = expected; i < first; ++i) out.push_back(i);
    expected = last;
  }
  return out;
}

}  // namespace recorder::core
