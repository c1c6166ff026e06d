// The only translation unit that includes GStreamer.

#include "recorder/adapters/gstreamer/gst_media.hpp"

#include <gst/gst.h>

#include <algorithm>
#include <mutex>
#include <string_view>

#include <fmt/format.h>

namespace recorder::adapters::gstreamer {
namespace {

using core::Errc;
using core::Result;

Result<void> ensure_init() {
  static std::once_flag once;
  static std::string failure;
  std::call_once(once, [] {
    GError* err = nullptr;
    if (!gst_init_check(nullptr, nullptr, &err)) {
      failure = err ? err->message : "unknown error";
      if (err) g_error_free(err);
    }
  });
  if (!failure.empty()) return core::fail(Errc::internal, fmt::format("GStreamer cannot start: {}", failure));
  return core::ok();
}

struct Unref {
  void operator()(GstElement* e) const { gst_object_unref(e); }
};
using ElementPtr = std::unique_ptr<GstElement, Unref>;

// Waits for EOS or an error on the pipeline's bus; the text of the first error.
std::optional<std::string> wait_done(GstElement* pipeline, std::chrono::seconds timeout) {
  GstBus* bus = gst_element_get_bus(pipeline);
  GstMessage* msg = gst_bus_timed_pop_filtered(
      bus, static_cast<GstClockTime>(std::chrono::duration_cast<std::chrono::nanoseconds>(timeout).count()),
      static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  std::optional<std::string> error;
  if (!msg) {
    error = fmt::format("no end of stream within {} s", timeout.count());
  } else if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR) {
    GError* err = nullptr;
    gchar* debug = nullptr;
    gst_message_parse_error(msg, &err, &debug);
    error = fmt::format("{}: {}", GST_OBJECT_NAME(GST_MESSAGE_SRC(msg)), err ? err->message : "error");
    // The debug text ends with the element's own reason ("decreasing DTS value", …): keep
    // that last line, not the source position and the element path before it.
    if (debug) {
      std::string_view detail(debug);
      while (!detail.empty() && (detail.back() == '\n' || detail.back() == ' ')) detail.remove_suffix(1);
      if (const auto nl = detail.rfind('\n'); nl != std::string_view::npos) detail.remove_prefix(nl + 1);
      if (!detail.empty() && detail.find(".c(") == std::string_view::npos) *error += fmt::format(" ({})", detail);
    }
    if (err) g_error_free(err);
    g_free(debug);
  }
  if (msg) gst_message_unref(msg);
  gst_object_unref(bus);
  return error;
}

std::string quote(const std::filesystem::path& p) {
  std::string out = "\"";
  for (char c : p.string()) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

const char* demuxer_for(const std::filesystem::path& file) {
  const std::string ext = file.extension().string();
  if (ext == ".mp4" || ext == ".m4a" || ext == ".mov") return "qtdemux";
  if (ext == ".wav") return "wavparse";
  if (ext == ".ogg" || ext == ".opus") return "oggdemux";
  return "matroskademux";  // webm, mkv, and what browsers send
}

struct ProbeState {
  GstElement* pipeline;
  MediaInfo info;
  GstClockTime end = 0;
  std::mutex mutex;
};

GstPadProbeReturn on_buffer(GstPad*, GstPadProbeInfo* info, gpointer data) {
  auto* st = static_cast<ProbeState*>(data);
  GstBuffer* buf = GST_PAD_PROBE_INFO_BUFFER(info);
  if (buf && GST_BUFFER_PTS_IS_VALID(buf)) {
    GstClockTime t = GST_BUFFER_PTS(buf);
    if (GST_BUFFER_DURATION_IS_VALID(buf)) t += GST_BUFFER_DURATION(buf);
    std::lock_guard lock(st->mutex);
    st->end = std::max(st->end, t);
  }
  return GST_PAD_PROBE_OK;
}

void on_pad_added(GstElement*, GstPad* pad, gpointer data) {
  auto* st = static_cast<ProbeState*>(data);
  GstCaps* caps = gst_pad_get_current_caps(pad);
  if (!caps) caps = gst_pad_query_caps(pad, nullptr);
  const std::string name = caps && gst_caps_get_size(caps) > 0
                               ? gst_structure_get_name(gst_caps_get_structure(caps, 0))
                               : "";
  if (caps) gst_caps_unref(caps);
  {
    std::lock_guard lock(st->mutex);
    if (name.rfind("audio/", 0) == 0) st->info.has_audio = true;
    if (name.rfind("video/", 0) == 0) st->info.has_video = true;
  }
  GstElement* sink = gst_element_factory_make("fakesink", nullptr);
  g_object_set(sink, "sync", FALSE, "async", FALSE, nullptr);
  gst_bin_add(GST_BIN(st->pipeline), sink);
  gst_element_sync_state_with_parent(sink);
  GstPad* sinkpad = gst_element_get_static_pad(sink, "sink");
  gst_pad_link(pad, sinkpad);
  gst_object_unref(sinkpad);
  gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, on_buffer, st, nullptr);
}

// Plays a probe pipeline to its end and reads what the pad probes saw.
Result<MediaInfo> run_probe(ProbeState& st, const std::filesystem::path& file, std::chrono::seconds timeout,
                            bool audio_only) {
  gst_element_set_state(st.pipeline, GST_STATE_PLAYING);
  auto error = wait_done(st.pipeline, timeout);
  gst_element_set_state(st.pipeline, GST_STATE_NULL);
  if (error)
    return core::fail(Errc::invalid_argument, fmt::format("{} is not a media file GStreamer can read: {}",
                                                          file.filename().string(), *error));
  std::lock_guard lock(st.mutex);
  if (audio_only) st.info.has_audio = true;
  if (!st.info.has_audio && !st.info.has_video)
    return core::fail(Errc::invalid_argument, fmt::format("{} holds no audio or video", file.filename().string()));
  if (st.end > 0) st.info.duration_seconds = static_cast<double>(st.end) / static_cast<double>(GST_SECOND);
  return st.info;
}

}  // namespace

Result<void> run_pipeline(const std::string& description, std::chrono::seconds timeout) {
  if (auto i = ensure_init(); !i) return i;
  GError* err = nullptr;
  ElementPtr pipeline(gst_parse_launch_full(description.c_str(), nullptr, GST_PARSE_FLAG_FATAL_ERRORS, &err));
  if (err || !pipeline) {
    std::string text = err ? err->message : "cannot build the pipeline";
    if (err) g_error_free(err);
    return core::fail(Errc::internal, fmt::format("GStreamer pipeline: {}", text));
  }
  if (gst_element_set_state(pipeline.get(), GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    auto error = wait_done(pipeline.get(), std::chrono::seconds(1));
    gst_element_set_state(pipeline.get(), GST_STATE_NULL);
    return core::fail(Errc::invalid_argument, error.value_or("the pipeline does not start"));
  }
  auto error = wait_done(pipeline.get(), timeout);
  gst_element_set_state(pipeline.get(), GST_STATE_NULL);
  if (error) return core::fail(Errc::invalid_argument, *error);
  return core::ok();
}

// WAV has one stream and wavparse links best as a plain element: count what reaches a sink.
Result<MediaInfo> probe_wav(const std::filesystem::path& file, std::chrono::seconds timeout) {
  GError* err = nullptr;
  const std::string description = fmt::format("filesrc location={} ! wavparse ! fakesink name=s sync=false", quote(file));
  ElementPtr pipeline(gst_parse_launch_full(description.c_str(), nullptr, GST_PARSE_FLAG_FATAL_ERRORS, &err));
  if (err || !pipeline) {
    if (err) g_error_free(err);
    return core::fail(Errc::internal, "GStreamer lacks wavparse (run scripts/setup.sh)");
  }
  ProbeState st{pipeline.get(), {}, 0, {}};
  GstElement* sink = gst_bin_get_by_name(GST_BIN(pipeline.get()), "s");
  GstPad* pad = gst_element_get_static_pad(sink, "sink");
  gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, on_buffer, &st, nullptr);
  gst_object_unref(pad);
  gst_object_unref(sink);
  return run_probe(st, file, timeout, true);
}

Result<MediaInfo> probe(const std::filesystem::path& file, std::chrono::seconds timeout) {
  if (auto i = ensure_init(); !i) return std::unexpected(i.error());
  if (std::string_view(demuxer_for(file)) == "wavparse") return probe_wav(file, timeout);
  ElementPtr pipeline(gst_pipeline_new("probe"));
  GstElement* src = gst_element_factory_make("filesrc", nullptr);
  GstElement* demux = gst_element_factory_make(demuxer_for(file), nullptr);
  if (!src || !demux) return core::fail(Errc::internal, "GStreamer lacks filesrc or the demuxer (run scripts/setup.sh)");
  g_object_set(src, "location", file.c_str(), nullptr);
  gst_bin_add_many(GST_BIN(pipeline.get()), src, demux, nullptr);
  gst_element_link(src, demux);
  ProbeState st{pipeline.get(), {}, 0, {}};
  g_signal_connect(demux, "pad-added", G_CALLBACK(on_pad_added), &st);
  return run_probe(st, file, timeout, false);
}

GstConverter::GstConverter(core::MediaFinalizer& originals, std::filesystem::path data_dir, std::size_t max_parallel)
    : originals_(originals), data_dir_(std::move(data_dir)), workers_(max_parallel) {}

GstConverter::~GstConverter() { stop(); }

void GstConverter::stop() { workers_.stop(); }

namespace {
// Browser WebM has no duration and no cues: a remuxed copy (no re-encoding) has both.
bool wants_seekable_copy(const core::Recording& r) {
  return r.format.empty() && r.meta.mime_type.find("webm") != std::string::npos;
}
}  // namespace

void GstConverter::finalize(const core::Recording& r, Done done) {
  const bool convert = r.kind == core::SourceKind::stream &&
                       (r.format == "wav" || r.format == "mp4" || wants_seekable_copy(r));
  originals_.finalize(r, [convert, done = std::move(done)](Result<core::FinalizeResult> result) {
    if (result && convert && !result->files.empty()) result->needs_processing = true;
    done(std::move(result));
  });
}

void GstConverter::process(const core::Recording& r, Done done) {
  workers_.post([this, r, done = std::move(done)] { done(convert(r)); });
}

Result<void> GstConverter::remove(const core::Recording& r) { return originals_.remove(r); }

Result<core::FinalizeResult> GstConverter::convert(const core::Recording& r) {
  const auto original = std::ranges::find(r.files, core::FileRole::original, &core::MediaFile::role);
  if (original == r.files.end()) return core::fail(Errc::invalid_state, fmt::format("recording {} has no original file", r.id));
  const auto in = data_dir_ / original->path;
  auto info = probe(in);
  if (wants_seekable_copy(r)) {
    // The seekable copy is a convenience: bytes that are not media keep their original and
    // nothing else, without failing the recording.
    if (!info) return core::FinalizeResult{};
    const auto out = in.parent_path() / "seekable.webm";
    const auto tmp = in.parent_path() / ".seekable.webm.part";
    std::string streams;
    if (info->has_video) streams += " d.video_0 ! queue ! m.video_0";
    if (info->has_audio) streams += " d.audio_0 ! queue ! m.audio_0";
    auto ran = run_pipeline(fmt::format("filesrc location={} ! matroskademux name=d{} webmmux name=m ! filesink "
                                        "location={}",
                                        quote(in), streams, quote(tmp)),
                            std::chrono::seconds(3600));
    std::error_code ec;
    if (!ran) {
      std::filesystem::remove(tmp, ec);
      return core::FinalizeResult{{}, info->duration_seconds, false};
    }
    std::filesystem::rename(tmp, out, ec);
    if (ec) return core::fail(Errc::io_error, fmt::format("cannot rename {}: {}", tmp.string(), ec.message()));
    auto copy = probe(out);
    core::FinalizeResult result;
    const auto duration = copy && copy->duration_seconds ? copy->duration_seconds : info->duration_seconds;
    result.files.push_back(core::MediaFile{std::filesystem::relative(out, data_dir_).string(), core::FileRole::converted,
                                           std::filesystem::file_size(out, ec), duration});
    result.duration_seconds = duration;
    return result;
  }
  if (!info) return std::unexpected(info.error());
  const auto out = in.parent_path() / fmt::format("recording.{}", r.format);
  const auto tmp = in.parent_path() / fmt::format(".recording.{}.part", r.format);
  const std::string demux = fmt::format("filesrc location={} ! {} name=d", quote(in), demuxer_for(in));
  // Audio through decodebin (any codec); VP8 video through vp8dec explicitly (AlphaMode).
  const std::string audio = "d.audio_0 ! queue ! decodebin ! audioconvert ! audioresample";
  std::string description;
  if (r.format == "wav") {
    if (!info->has_audio) return core::fail(Errc::invalid_argument, fmt::format("recording {} has no audio to convert to wav", r.id));
    description = fmt::format("{} {} ! audio/x-raw,rate=16000,channels=1,format=S16LE ! wavenc ! filesink location={}",
                              demux, audio, quote(tmp));
  } else {
    std::string streams;
    if (info->has_audio) streams += fmt::format(" {} ! avenc_aac ! queue ! mux.audio_0", audio);
    if (info->has_video)
      // videorate: browsers under load stamp two frames with the same millisecond; x264enc
      // then emits a frame with no PTS and mp4mux fails ("Buffer has no PTS."). videorate
      // drops the repeat and keeps the stream's own (variable) rate.
      streams += " d.video_0 ! queue ! vp8dec ! videorate ! videoconvert ! x264enc tune=zerolatency speed-preset=veryfast ! "
                 "h264parse ! queue ! mux.video_0";
    description = fmt::format("{}{} mp4mux name=mux ! filesink location={}", demux, streams, quote(tmp));
  }
  if (auto ran = run_pipeline(description, std::chrono::seconds(3600)); !ran) {
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    return core::fail(Errc::invalid_argument, fmt::format("converting recording {} to {} failed: {}", r.id, r.format,
                                                          ran.error().message));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, out, ec);
  if (ec) return core::fail(Errc::io_error, fmt::format("cannot rename {}: {}", tmp.string(), ec.message()));
  auto converted = probe(out);
  if (!converted) return std::unexpected(converted.error());
  core::FinalizeResult result;
  const auto rel = std::filesystem::relative(out, data_dir_).string();
  result.files.push_back(core::MediaFile{rel, core::FileRole::converted, std::filesystem::file_size(out, ec),
                                         converted->duration_seconds});
  result.duration_seconds = converted->duration_seconds ? converted->duration_seconds : info->duration_seconds;
  return result;
}

}  // namespace recorder::adapters::gstreamer
