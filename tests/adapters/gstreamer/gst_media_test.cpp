// Real GStreamer pipelines on real media made by GStreamer test sources: a WebM with VP8
// and Opus (as browsers send), split into chunks, stored, finalized and converted to wav and
// mp4; durations checked with the probe; input that is not media fails cleanly.

#include <catch2/catch.hpp>

#include <fstream>
#include <iterator>
#include <future>
#include <thread>

#include <gst/gst.h>

#include "recorder/adapters/fs/fs_chunk_store.hpp"
#include "recorder/adapters/fs/fs_finalizer.hpp"
#include "recorder/adapters/gstreamer/gst_media.hpp"
#include "recorder/testing/temp_dir.hpp"

using namespace recorder;
using adapters::gstreamer::GstConverter;
using recorder::testing::TempDir;
using namespace std::chrono_literals;

namespace {

// Three seconds of 320x240 VP8 and mono Opus in WebM (or audio only).
std::filesystem::path make_webm(const std::filesystem::path& dir, bool video) {
  const auto file = dir / (video ? "av.webm" : "a.webm");
  std::string description = "webmmux name=m ! filesink location=" + file.string() +
                            " audiotestsrc num-buffers=150 samplesperbuffer=960 ! audio/x-raw,rate=48000,channels=1 ! "
                            "opusenc ! queue ! m.audio_0";
  if (video)
    description += " videotestsrc num-buffers=90 ! video/x-raw,width=320,height=240,framerate=30/1 ! "
                   "vp8enc deadline=1 keyframe-max-dist=30 ! queue ! m.video_0";
  auto made = adapters::gstreamer::run_pipeline(description, 60s);
  INFO((made ? "" : made.error().message));
  REQUIRE(made);
  return file;
}

// Like make_webm with video, but every tenth frame carries the previous frame's time, as
// Chromium's MediaRecorder writes when the machine is busy (two frames in one millisecond).
std::filesystem::path make_webm_with_repeated_times(const std::filesystem::path& dir) {
  const auto file = dir / "repeated.webm";
  const std::string description =
      "webmmux name=m ! filesink location=" + file.string() +
      " audiotestsrc num-buffers=150 samplesperbuffer=960 ! audio/x-raw,rate=48000,channels=1 ! opusenc ! queue ! "
      "m.audio_0 videotestsrc num-buffers=90 ! video/x-raw,width=320,height=240,framerate=30/1 ! "
      "vp8enc name=enc deadline=1 keyframe-max-dist=30 ! queue ! m.video_0";
  REQUIRE(adapters::gstreamer::probe(make_webm(dir, false)));  // GStreamer is initialised
  GError* err = nullptr;
  GstElement* pipeline = gst_parse_launch(description.c_str(), &err);
  REQUIRE((pipeline && !err));
  GstElement* enc = gst_bin_get_by_name(GST_BIN(pipeline), "enc");
  GstPad* pad = gst_element_get_static_pad(enc, "sink");
  struct Times {
    int frame = 0;
    GstClockTime previous = GST_CLOCK_TIME_NONE;
  } times;
  gst_pad_add_probe(
      pad, GST_PAD_PROBE_TYPE_BUFFER,
      [](GstPad*, GstPadProbeInfo* info, gpointer data) {
        auto& t = *static_cast<Times*>(data);
        GstBuffer* b = gst_buffer_make_writable(GST_PAD_PROBE_INFO_BUFFER(info));
        GST_PAD_PROBE_INFO_DATA(info) = b;
        const GstClockTime own = GST_BUFFER_PTS(b);
        if (++t.frame % 10 == 5) GST_BUFFER_PTS(b) = t.previous;
        t.previous = own;
        return GST_PAD_PROBE_OK;
      },
      &times, nullptr);
  gst_object_unref(pad);
  gst_object_unref(enc);
  gst_element_set_state(pipeline, GST_STATE_PLAYING);
  GstBus* bus = gst_element_get_bus(pipeline);
  GstMessage* msg = gst_bus_timed_pop_filtered(bus, 60 * GST_SECOND,
                                               static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  const bool eos = msg && GST_MESSAGE_TYPE(msg) == GST_MESSAGE_EOS;
  if (msg) gst_message_unref(msg);
  gst_object_unref(bus);
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(pipeline);
  REQUIRE(eos);
  CHECK(times.frame == 90);
  return file;
}

std::string read(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Stores a file as a stream recording's chunks (20 KB each, in order) and returns it.
core::Recording stored(adapters::fs::FsChunkStore& chunks, const std::string& id, const std::string& file_bytes,
                       const std::string& format) {
  core::Recording r;
  r.id = id;
  r.kind = core::SourceKind::stream;
  r.format = format;
  r.meta.mime_type = "video/webm";
  core::ChunkIndex i = 0;
  for (std::size_t at = 0; at < file_bytes.size(); at += 20000, ++i) {
    const std::string piece = file_bytes.substr(at, 20000);
    REQUIRE(chunks.put(id, i, std::span(reinterpret_cast<const std::byte*>(piece.data()), piece.size())));
    r.ledger.add(i, piece.size());
  }
  return r;
}

// Runs finalize, then process when asked, as the service would.
struct Outcome {
  core::Result<core::FinalizeResult> finalized = core::fail(core::Errc::internal, "not run");
  std::optional<core::Result<core::FinalizeResult>> processed;
};

Outcome finalize_and_process(GstConverter& converter, core::Recording r) {
  Outcome out;
  std::promise<core::Result<core::FinalizeResult>> f;
  converter.finalize(r, [&](core::Result<core::FinalizeResult> res) { f.set_value(std::move(res)); });
  out.finalized = f.get_future().get();
  if (!out.finalized || !out.finalized->needs_processing) return out;
  r.files = out.finalized->files;
  std::promise<core::Result<core::FinalizeResult>> p;
  converter.process(r, [&](core::Result<core::FinalizeResult> res) { p.set_value(std::move(res)); });
  out.processed = p.get_future().get();
  return out;
}

}  // namespace

TEST_CASE("the probe reads streams and duration of real media", "[gstreamer]") {
  TempDir dir;
  auto info = adapters::gstreamer::probe(make_webm(dir.path(), true));
  INFO((info ? "" : info.error().message));
  REQUIRE(info);
  CHECK(info->has_audio);
  CHECK(info->has_video);
  REQUIRE(info->duration_seconds);
  CHECK(*info->duration_seconds == Approx(3.0).margin(0.1));
  auto audio = adapters::gstreamer::probe(make_webm(dir.path(), false));
  REQUIRE(audio);
  CHECK(audio->has_audio);
  CHECK_FALSE(audio->has_video);
}

TEST_CASE("WebM chunks become the original at once and a 16 kHz mono wav after", "[gstreamer][seed002]") {
  TempDir dir;
  const std::string bytes = read(make_webm(dir.path(), true));
  adapters::fs::FsChunkStore chunks(dir.path() / "data" / "chunks");
  adapters::fs::FsFinalizer originals(chunks, dir.path() / "data");
  GstConverter converter(originals, dir.path() / "data");
  auto out = finalize_and_process(converter, stored(chunks, "to-wav", bytes, "wav"));
  REQUIRE(out.finalized);
  CHECK(out.finalized->needs_processing);
  REQUIRE(out.finalized->files.size() == 1);
  CHECK(read(dir.path() / "data" / out.finalized->files[0].path) == bytes);  // the original, untouched
  REQUIRE(out.processed);
  INFO((*out.processed ? "" : out.processed->error().message));
  REQUIRE(*out.processed);
  const auto& wav = (*out.processed)->files.at(0);
  CHECK(wav.role == core::FileRole::converted);
  CHECK(wav.path == "recordings/to-wav/recording.wav");
  REQUIRE(wav.duration_seconds);
  CHECK(*wav.duration_seconds == Approx(3.0).margin(0.1));
  // 16 kHz mono 16-bit: 32,000 bytes a second plus the header.
  CHECK(wav.bytes == Approx(44 + 3 * 32000).margin(2000));
}

TEST_CASE("WebM with video becomes an mp4 with AAC and H.264 - audio only becomes AAC alone",
          "[gstreamer][seed002]") {
  TempDir dir;
  adapters::fs::FsChunkStore chunks(dir.path() / "data" / "chunks");
  adapters::fs::FsFinalizer originals(chunks, dir.path() / "data");
  GstConverter converter(originals, dir.path() / "data");
  for (bool video : {true, false}) {
    INFO("video: " << video);
    const std::string id = video ? "av-mp4" : "a-mp4";
    auto out = finalize_and_process(converter, stored(chunks, id, read(make_webm(dir.path(), video)), "mp4"));
    REQUIRE(out.processed);
    INFO((*out.processed ? "" : out.processed->error().message));
    REQUIRE(*out.processed);
    const auto mp4 = dir.path() / "data" / (*out.processed)->files.at(0).path;
    auto info = adapters::gstreamer::probe(mp4);
    REQUIRE(info);
    CHECK(info->has_audio);
    CHECK(info->has_video == video);
    REQUIRE(info->duration_seconds);
    CHECK(*info->duration_seconds == Approx(3.0).margin(0.15));
  }
}

TEST_CASE("WebM whose frames repeat a time (a busy browser) still becomes a playable mp4", "[gstreamer][seed002]") {
  TempDir dir;
  adapters::fs::FsChunkStore chunks(dir.path() / "data" / "chunks");
  adapters::fs::FsFinalizer originals(chunks, dir.path() / "data");
  GstConverter converter(originals, dir.path() / "data");
  auto out = finalize_and_process(converter, stored(chunks, "repeated", read(make_webm_with_repeated_times(dir.path())), "mp4"));
  REQUIRE(out.processed);
  INFO((*out.processed ? "" : out.processed->error().message));
  REQUIRE(*out.processed);
  auto info = adapters::gstreamer::probe(dir.path() / "data" / (*out.processed)->files.at(0).path);
  REQUIRE(info);
  CHECK(info->has_audio);
  CHECK(info->has_video);
  REQUIRE(info->duration_seconds);
  CHECK(*info->duration_seconds == Approx(3.0).margin(0.15));
}

TEST_CASE("bytes that are not media fail the conversion with a clear error - the original stays",
          "[gstreamer][seed002]") {
  TempDir dir;
  adapters::fs::FsChunkStore chunks(dir.path() / "data" / "chunks");
  adapters::fs::FsFinalizer originals(chunks, dir.path() / "data");
  GstConverter converter(originals, dir.path() / "data");
  const std::string zeros(1024, '\0');
  auto out = finalize_and_process(converter, stored(chunks, "zeros", zeros, "wav"));
  REQUIRE(out.finalized);
  REQUIRE(out.processed);
  REQUIRE_FALSE(*out.processed);
  CHECK(out.processed->error().code == core::Errc::invalid_argument);
  CHECK(out.processed->error().message.find("not a media file") != std::string::npos);
  CHECK(read(dir.path() / "data" / out.finalized->files[0].path) == zeros);
}

TEST_CASE("browser WebM without a format gets a seekable remuxed copy - bytes that are not media keep only the original",
          "[gstreamer]") {
  TempDir dir;
  adapters::fs::FsChunkStore chunks(dir.path() / "data" / "chunks");
  adapters::fs::FsFinalizer originals(chunks, dir.path() / "data");
  GstConverter converter(originals, dir.path() / "data");

  auto media = finalize_and_process(converter, stored(chunks, "browser", read(make_webm(dir.path(), true)), ""));
  REQUIRE(media.processed);
  INFO((*media.processed ? "" : media.processed->error().message));
  REQUIRE(*media.processed);
  REQUIRE((*media.processed)->files.size() == 1);
  CHECK((*media.processed)->files[0].path == "recordings/browser/seekable.webm");
  REQUIRE((*media.processed)->duration_seconds);
  CHECK(*(*media.processed)->duration_seconds == Approx(3.0).margin(0.1));

  auto junk = finalize_and_process(converter, stored(chunks, "plain", std::string(100, 'x'), ""));
  REQUIRE(junk.processed);
  REQUIRE(*junk.processed);
  CHECK((*junk.processed)->files.empty());
}

TEST_CASE("no processing without a format for what is not webm", "[gstreamer]") {
  TempDir dir;
  adapters::fs::FsChunkStore chunks(dir.path() / "data" / "chunks");
  adapters::fs::FsFinalizer originals(chunks, dir.path() / "data");
  GstConverter converter(originals, dir.path() / "data");
  auto r = stored(chunks, "ogg", std::string(100, 'x'), "");
  r.meta.mime_type = "audio/ogg";
  auto out = finalize_and_process(converter, r);
  REQUIRE(out.finalized);
  CHECK_FALSE(out.finalized->needs_processing);
}
