// Finalize and conversion figures (docs/performance.md):
//  1. Finalizing an in-order stream (its data file becomes the original: a hard link) for
//     recordings of growing size, beside copying the same chunks into a new file (what an
//     out-of-order recording costs) in the same run.
//  2. Converting real WebM (VP8 + Opus from GStreamer test sources) to wav and to mp4, as a
//     multiple of real time.
//
//   media_bench [--sizes-mib 16,256,1024] [--media-seconds 60] [--dir DIR]

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "recorder/adapters/fs/fs_chunk_store.hpp"
#include "recorder/adapters/fs/fs_finalizer.hpp"
#include "recorder/adapters/gstreamer/gst_media.hpp"

using namespace recorder;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

namespace {

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

core::Recording stream_recording(const std::string& id, std::uint64_t chunks, std::uint64_t chunk_size,
                                 const std::string& format = "") {
  core::Recording r;
  r.id = id;
  r.kind = core::SourceKind::stream;
  r.format = format;
  r.meta.mime_type = "video/webm";
  for (std::uint64_t i = 0; i < chunks; ++i) r.ledger.add(i, chunk_size);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::uint64_t> sizes{16, 256, 1024};
  int media_seconds = 60;
  fs::path dir = fs::temp_directory_path() / "recorderd-media-bench";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--media-seconds") media_seconds = std::stoi(argv[i + 1]);
    else if (a == "--dir") dir = argv[i + 1];
    else if (a == "--sizes-mib") {
      sizes.clear();
      const std::string list = argv[i + 1];
      for (std::size_t at = 0; at < list.size();) {
        const auto comma = list.find(',', at);
        sizes.push_back(std::stoull(list.substr(at, comma - at)));
        at = comma == std::string::npos ? list.size() : comma + 1;
      }
    }
  }
  fs::remove_all(dir);
  fmt::print("media benchmark: {} cores, dir {}\n", std::thread::hardware_concurrency(), dir.string());

  constexpr std::uint64_t kChunk = 1024 * 1024;
  const std::vector<std::byte> payload(kChunk, std::byte{0x42});
  for (std::uint64_t mib : sizes) {
    fs::remove_all(dir);
    adapters::fs::FsChunkStore chunks(dir / "chunks", 16);
    adapters::fs::FsFinalizer finalizer(chunks, dir);
    // The same chunks twice: in order (the original is the data file) and with the first
    // two swapped (the original must be assembled by copying).
    for (std::uint64_t i = 0; i < mib; ++i) {
      if (!chunks.put("in-order", i, payload)) return 1;
      const std::uint64_t swapped = i == 0 ? 1 : i == 1 ? 0 : i;
      if (!chunks.put("shuffled", swapped, payload)) return 1;
    }
    auto t = Clock::now();
    auto linked = finalizer.finalize_now(stream_recording("in-order", mib, kChunk));
    const double link_ms = ms_since(t);
    t = Clock::now();
    auto copied = finalizer.finalize_now(stream_recording("shuffled", mib, kChunk));
    const double copy_ms = ms_since(t);
    if (!linked || !copied) {
      fmt::print(stderr, "finalize failed\n");
      return 1;
    }
    fmt::print("finalize {:>5} MiB: in order {:>8.2f} ms (no copy) | out of order {:>9.1f} ms (copy, {:.0f} MB/s)\n",
               mib, link_ms, copy_ms, static_cast<double>(mib) * 1.048576 / (copy_ms / 1000.0));
  }

  fs::remove_all(dir);
  fs::create_directories(dir / "recordings" / "conv");
  const auto source = dir / "recordings" / "conv" / "original.webm";
  const int frames = media_seconds * 30;
  const int opus_buffers = media_seconds * 50;
  auto t = Clock::now();
  auto made = adapters::gstreamer::run_pipeline(
      fmt::format("webmmux name=m ! filesink location={} videotestsrc num-buffers={} ! "
                  "video/x-raw,width=640,height=480,framerate=30/1 ! vp8enc deadline=1 ! queue ! m.video_0 "
                  "audiotestsrc num-buffers={} samplesperbuffer=960 ! audio/x-raw,rate=48000,channels=1 ! opusenc ! "
                  "queue ! m.audio_0",
                  source.string(), frames, opus_buffers),
      std::chrono::seconds(600));
  if (!made) {
    fmt::print(stderr, "cannot make the source: {}\n", made.error().message);
    return 1;
  }
  fmt::print("source: {} s of 640x480 VP8 + Opus, {:.1f} MB, made in {:.1f} s\n", media_seconds,
             static_cast<double>(fs::file_size(source)) / 1e6, ms_since(t) / 1000.0);
  adapters::fs::FsChunkStore unused(dir / "chunks");
  adapters::fs::FsFinalizer originals(unused, dir);
  adapters::gstreamer::GstConverter converter(originals, dir);
  for (const std::string format : {"wav", "mp4"}) {
    core::Recording r = stream_recording("conv", 0, 0, format);
    r.files.push_back(core::MediaFile{"recordings/conv/original.webm", core::FileRole::original, 0, std::nullopt});
    t = Clock::now();
    auto converted = converter.convert(r);
    const double s = ms_since(t) / 1000.0;
    if (!converted) {
      fmt::print(stderr, "conversion to {} failed: {}\n", format, converted.error().message);
      return 1;
    }
    fmt::print("convert to {}: {:.1f} s for {} s of media = {:.1f}x real time (probed {:.2f} s)\n", format, s,
               media_seconds, media_seconds / s, converted->duration_seconds.value_or(0));
  }
  converter.stop();
  fs::remove_all(dir);
  return 0;
}
