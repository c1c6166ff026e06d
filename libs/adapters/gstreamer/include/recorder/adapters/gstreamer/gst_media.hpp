#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

#include "recorder/adapters/worker_pool/worker_pool.hpp"
#include "recorder/core/ports/media_finalizer.hpp"

namespace recorder::adapters::gstreamer {

// What a media file holds, learned by demuxing it (no decoding).
struct MediaInfo {
  bool has_audio = false;
  bool has_video = false;
  std::optional<double> duration_seconds;  // the end of the last buffer; nothing if none had times
};

// Demuxes `file` (matroska/webm, mp4, wav, ogg by extension) to its end. An error names
// the file and what GStreamer said; input that is not media is an Errc::invalid_argument.
core::Result<MediaInfo> probe(const std::filesystem::path& file, std::chrono::seconds timeout = std::chrono::seconds(120));

// Runs a gst-launch description to EOS; any error (also a half-built pipeline) fails it.
core::Result<void> run_pipeline(const std::string& description, std::chrono::seconds timeout);

// The media finalizer for streams: `originals` makes the original file (at once: no
// copy for in-order chunks); when the client asked for wav (16 kHz mono PCM) or mp4 (AAC,
// and H.264 when there is video), a conversion follows as processing, on this class's
// own workers (`max_parallel` at once). The original always stays beside the converted
// file; input that is not media fails the conversion with a clear error, and its bytes
// stay. Browser (Chrome) WebM is decoded with explicit VP8 and Opus decoders: its
// AlphaMode flag sends decodebin to the wrong VP8 decoder.
class GstConverter final : public core::MediaFinalizer {
 public:
  GstConverter(core::MediaFinalizer& originals, std::filesystem::path data_dir, std::size_t max_parallel = 1);
  ~GstConverter() override;
  GstConverter(const GstConverter&) = delete;
  GstConverter& operator=(const GstConverter&) = delete;

  // Port
  void finalize(const core::Recording& r, Done done) override;
  void process(const core::Recording& r, Done done) override;
  core::Result<void> remove(const core::Recording& r) override;

  // The conversion itself, synchronously.
  core::Result<core::FinalizeResult> convert(const core::Recording& r);
  // Finishes the conversions being run, drops the queued ones (recovery runs them again).
  void stop();

 private:
  core::MediaFinalizer& originals_;
  std::filesystem::path data_dir_;
  WorkerPool workers_;
};

}  // namespace recorder::adapters::gstreamer
