#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "recorder/core/ports/chunk_store.hpp"

namespace recorder::adapters::fs {

// Where each chunk of a recording lies in its data file.
struct ChunkSpan {
  core::ChunkIndex index;
  std::uint64_t offset;
  std::uint32_t length;
};

struct ChunkLayout {
  std::filesystem::path data_file;
  std::vector<ChunkSpan> spans;  // in the order they were written; no duplicates
  // True when the data file is the chunks 0..n-1 in index order with nothing else: it is
  // then the recording's original file as it is, without copying.
  bool in_order = false;
  core::ChunkLedger ledger;
};

// Chunks on the filesystem, one directory per recording (docs/adr/0005-chunk-store.md):
//   <root>/<id>/data   the payloads, appended in arrival order
//   <root>/<id>/index  one 32-byte record per chunk: index, offset, length, CRC-32 of the
//                      payload, CRC-32 of the record
// put() returns only after both files are fdatasync'ed. A failed write or sync is rolled
// back (both files truncated to the last acknowledged chunk and synced); if even that
// fails, the recording's files are refused until the next start-up verifies them. Recovery
// (scan, and the first put after a start) verifies every record and payload and truncates a
// torn tail, so nothing unacknowledged or damaged is ever served.
class FsChunkStore final : public core::ChunkStore {
 public:
  // `shared`: other processes write this directory too (several instances on a shared
  // volume, ADR 0018): each write and verification then holds a flock on the recording's
  // files and checks that they are still the sizes this process knows. One process alone
  // (SQLite, which refuses a second) needs neither.
  explicit FsChunkStore(std::filesystem::path root, std::size_t max_open_recordings = 2048, bool shared = false);
  ~FsChunkStore() override;
  FsChunkStore(const FsChunkStore&) = delete;
  FsChunkStore& operator=(const FsChunkStore&) = delete;

  // Port
  core::Result<void> put(const core::RecordingId& id, core::ChunkIndex index,
                         std::span<const std::byte> bytes) override;
  core::Result<core::ChunkLedger> scan(const core::RecordingId& id) override;
  core::Result<void> remove(const core::RecordingId& id) override;
  void forget(const core::RecordingId& id) override { close(id); }

  // Verified layout of the recording's chunks, for the finalizer.
  core::Result<ChunkLayout> layout(const core::RecordingId& id);
  // Forgets open files of a recording (after it is finalized); its files stay.
  void close(const core::RecordingId& id);

  // The directory name used for a recording id: the id itself when it is made of
  // [A-Za-z0-9._-] and does not start with '.', else '%' and its bytes in hex.
  static std::string directory_name(const core::RecordingId& id);
  std::filesystem::path directory(const core::RecordingId& id) const;

 private:
  struct Files;
  core::Result<std::shared_ptr<Files>> open(const core::RecordingId& id, bool create);
  core::Result<void> open_files(Files& files, const core::RecordingId& id, bool create);
  core::Result<ChunkLayout> verify(Files& f);

  std::filesystem::path root_;
  std::size_t max_open_;
  bool shared_;
  std::mutex mutex_;
  std::unordered_map<core::RecordingId, std::shared_ptr<Files>> open_;
  std::uint64_t use_counter_ = 0;
  std::atomic<bool> root_synced_{false};  // the data directory's entry for root_ is durable
};

}  // namespace recorder::adapters::fs
