#pragma once

#include <filesystem>

#include "recorder/adapters/fs/fs_chunk_store.hpp"
#include "recorder/adapters/worker_pool/worker_pool.hpp"
#include "recorder/core/ports/media_finalizer.hpp"

namespace recorder::adapters::fs {

// Makes a stream recording's original file from its chunks, on worker threads:
//   <media_root>/<id>/original.<ext>   (ext from the client's mime type)
// An in-order recording's data file is hard-linked (constant time, no copy); otherwise
// the chunks are copied in index order (gaps skipped) into a new file that is synced
// before it is renamed into place. Conversions are the GStreamer adapter's (GstConverter
// wraps this class); process() here answers that it does not convert. Captures and agents keep the files they have.
class FsFinalizer final : public core::MediaFinalizer {
 public:
  FsFinalizer(FsChunkStore& chunks, std::filesystem::path data_dir, std::size_t workers = 2);
  ~FsFinalizer() override;
  FsFinalizer(const FsFinalizer&) = delete;
  FsFinalizer& operator=(const FsFinalizer&) = delete;

  // Port
  void finalize(const core::Recording& r, Done done) override;
  void process(const core::Recording& r, Done done) override;
  core::Result<void> remove(const core::Recording& r) override;

  // Finishes the jobs being run, drops the queued ones (recovery runs them again).
  void stop();

  // The finalize work itself, synchronously (benchmarks and tests).
  core::Result<core::FinalizeResult> finalize_now(const core::Recording& r);
  static std::string extension_for(const std::string& mime_type);

 private:
  FsChunkStore& chunks_;
  std::filesystem::path data_dir_;
  WorkerPool workers_;
};

}  // namespace recorder::adapters::fs
