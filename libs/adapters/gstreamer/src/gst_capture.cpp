// GStreamer capture; see gst_capture.hpp. Includes GStreamer (only this file and gst_media.cpp do).

#include "recorder/adapters/gstreamer/gst_capture.hpp"

#include <gst/gst.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <ctime>
#include <thread>

#include <fmt/format.h>

namespace recorder::adapters::gstreamer {
namespace {

std::string stamp(std::time_t t) {
  std::tm tm{};
  ::localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d_%H-%M-%S", &tm);
  return buf;
}

}  // namespace

struct GstCaptureDriver::Capture {
  core::RecordingId id;
  std::string device;
  std::filesystem::path dir;
  std::filesystem::path data_dir;
  GstElement* pipeline = nullptr;
  GstElement* splitmux = nullptr;
  std::thread thread;
  std::atomic<bool> stop_requested{false};
  std::atomic<bool> rotate_requested{false};
  std::string last_name;
  int collisions = 0;
  // Running time at which each open fragment began, by location: with async finalization
  // the next fragment opens before the previous one is reported closed.
  std::map<std::string, std::uint64_t> opened_at;

  ~Capture() {
    // The last reference may go with the capture's own thread (a retry replaced it while
    // its thread was returning): that thread cannot join itself.
    if (thread.joinable()) {
      if (thread.get_id() == std::this_thread::get_id()) thread.detach();
      else thread.join();
    }
    if (splitmux) gst_object_unref(splitmux);
    if (pipeline) gst_object_unref(pipeline);
  }
};

namespace {

// What a segment's file name starts with: the device's name (seed 003: cam0_<time>.mp4),
// for a URL its scheme and host (rtsp_cameras.example.com_<time>.mp4); only [A-Za-z0-9._-],
// anything else '_', at most 64 characters: a name can never leave the recording's directory.
std::string segment_prefix(std::string_view device) {
  if (const auto scheme = device.find("://"); scheme != std::string_view::npos) {
    const auto rest = device.substr(scheme + 3);
    device = device.substr(0, scheme + 3 + rest.find('/'));
  }
  std::string out;
  for (const char c : device.substr(0, 64)) {
    const bool safe = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
                      c == '-' || c == '_';
    if (safe) out += c;
    else if (out.empty() || out.back() != '_') out += '_';
  }
  while (!out.empty() && (out.back() == '_' || out.front() == '.')) {
    if (out.back() == '_') out.pop_back();
    else out.erase(0, 1);
  }
  return out.empty() ? "capture" : out;
}

// splitmuxsink asks for each fragment's file name.
gchar* on_format_location(GstElement*, guint fragment, GstSample*, gpointer data) {
  auto* c = static_cast<GstCaptureDriver::Capture*>(data);
  std::string name = fmt::format("{}_{}", segment_prefix(c->device), stamp(std::time(nullptr)));
  if (name == c->last_name) {
    name += fmt::format("_{}", ++c->collisions);
  } else {
    c->last_name = name;
    c->collisions = 0;
  }
  (void)fragment;
  return g_strdup((c->dir / (name + ".mp4")).c_str());
}

}  // namespace

GstCaptureDriver::GstCaptureDriver(std::vector<core::Device> devices, std::filesystem::path data_dir,
                                   std::chrono::seconds keyframe_interval, std::vector<std::string> allowed_urls)
    : devices_(std::move(devices)),
      allowed_urls_(std::move(allowed_urls)),
      data_dir_(std::move(data_dir)),
      keyframe_interval_(keyframe_interval) {
  gst_init(nullptr, nullptr);
}

GstCaptureDriver::~GstCaptureDriver() { stop_all(); }

void GstCaptureDriver::bind(core::RecordingService& service) { service_ = &service; }

std::string GstCaptureDriver::source_description(const core::DeviceSource& source) {
  using T = core::DeviceSource::Type;
  switch (source.type) {
    case T::test: return "videotestsrc is-live=true pattern=ball ! video/x-raw,width=640,height=360,framerate=15/1";
    case T::v4l2: return fmt::format("v4l2src device=\"{}\"", source.location);
    case T::pipeline: return source.location;
    case T::uri: return fmt::format("uridecodebin uri=\"{}\"", source.location);
  }
  return source.location;
}

void GstCaptureDriver::start(const core::Recording& r) {
  auto c = std::make_shared<Capture>();
  c->id = r.id;
  c->device = r.meta.device;
  c->data_dir = data_dir_;
  c->dir = data_dir_ / "recordings" / core::file_safe_id(r.id);
  {
    std::lock_guard lock(mutex_);
    if (auto old = captures_.find(r.id); old != captures_.end()) {
      old->second->stop_requested = true;  // a retry replaces a capture that never started
      captures_.erase(old);
    }
    captures_[r.id] = c;
  }
  c->thread = std::thread([this, c] {
    auto report_start_failed = [&](const std::string& why) { service_->on_capture_start_failed(c->id, why); };
    const auto device = std::ranges::find(devices_, c->device, &core::Device::name);
    std::optional<core::DeviceSource> from_url;
    if (device == devices_.end()) {
      if (c->device.find("://") == std::string::npos)
        return report_start_failed(fmt::format("no device '{}' is configured", c->device));
      if (!core::url_allowed(allowed_urls_, c->device))
        return report_start_failed(fmt::format("the URL '{}' matches no capture.allowed_urls pattern", c->device));
      from_url = core::DeviceSource{core::DeviceSource::Type::uri, c->device};
    }
    const std::string source = source_description(from_url ? *from_url : device->source);
    std::error_code ec;
    std::filesystem::create_directories(c->dir, ec);
    if (ec) return report_start_failed(fmt::format("cannot create {}: {}", c->dir.string(), ec.message()));
    const auto kf = std::max<long>(1, static_cast<long>(keyframe_interval_.count()) * 30);
    const std::string description = fmt::format(
        // Fragments of 500 ms written unbuffered: after a crash a segment is readable up to
        // its last fragment, not only once it was closed.
        "{} ! videoconvert ! queue ! x264enc tune=zerolatency speed-preset=veryfast key-int-max={} ! h264parse ! "
        "splitmuxsink name=split max-size-time=0 async-finalize=true muxer-factory=mp4mux "
        "muxer-properties=\"properties,fragment-duration=500\" sink-factory=filesink "
        "sink-properties=\"properties,buffer-mode=2\"",
        source, kf);
    GError* err = nullptr;
    c->pipeline = gst_parse_launch_full(description.c_str(), nullptr, GST_PARSE_FLAG_FATAL_ERRORS, &err);
    if (err || !c->pipeline) {
      std::string why = err ? err->message : "cannot build the pipeline";
      if (err) g_error_free(err);
      return report_start_failed(fmt::format("device '{}': {}", c->device, why));
    }
    c->splitmux = gst_bin_get_by_name(GST_BIN(c->pipeline), "split");
    g_signal_connect(c->splitmux, "format-location-full", G_CALLBACK(on_format_location), c.get());
    GstBus* bus = gst_element_get_bus(c->pipeline);
    bool started = false;
    bool eos_sent = false;
    auto eos_deadline = std::chrono::steady_clock::time_point::max();
    std::string failure;
    if (gst_element_set_state(c->pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
      failure = "the pipeline does not start";
    while (failure.empty()) {
      if (c->stop_requested && !eos_sent) {
        gst_element_send_event(c->pipeline, gst_event_new_eos());
        eos_sent = true;
        // splitmuxsink sometimes never posts EOS although its files are complete.
        eos_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      }
      if (c->rotate_requested.exchange(false)) g_signal_emit_by_name(c->splitmux, "split-after");
      if (std::chrono::steady_clock::now() >= eos_deadline) break;
      GstMessage* msg = gst_bus_timed_pop(bus, 50 * GST_MSECOND);
      if (!msg) continue;
      const auto type = GST_MESSAGE_TYPE(msg);
      if (type == GST_MESSAGE_EOS) {
        gst_message_unref(msg);
        // An end nobody asked for is a source that went away (a stream ended, a camera
        // was unplugged): the recording stops with reason error and keeps its segments.
        if (!c->stop_requested) failure = "the source ended the stream";
        break;
      }
      if (type == GST_MESSAGE_ERROR) {
        GError* e = nullptr;
        gst_message_parse_error(msg, &e, nullptr);
        failure = fmt::format("{}: {}", GST_OBJECT_NAME(GST_MESSAGE_SRC(msg)), e ? e->message : "error");
        if (e) g_error_free(e);
      } else if (type == GST_MESSAGE_STATE_CHANGED && GST_MESSAGE_SRC(msg) == GST_OBJECT(c->pipeline)) {
        GstState now;
        gst_message_parse_state_changed(msg, nullptr, &now, nullptr);
        if (now == GST_STATE_PLAYING && !started) {
          started = true;
          service_->on_capture_started(c->id);
        }
      } else if (type == GST_MESSAGE_ELEMENT) {
        const GstStructure* s = gst_message_get_structure(msg);
        const std::string name = s ? gst_structure_get_name(s) : "";
        guint64 rt = 0;
        const char* location = s ? gst_structure_get_string(s, "location") : nullptr;
        if (name == "splitmuxsink-fragment-opened" && location && gst_structure_get_uint64(s, "running-time", &rt)) {
          c->opened_at[location] = rt;
          service_->on_segment_opened(c->id, std::filesystem::relative(location, c->data_dir).string());
        } else if (name == "splitmuxsink-fragment-closed" && location) {
          gst_structure_get_uint64(s, "running-time", &rt);
          const std::uint64_t opened = c->opened_at.contains(location) ? c->opened_at[location] : rt;
          c->opened_at.erase(location);
          std::error_code size_ec;
          const std::filesystem::path file(location);
          core::MediaFile seg{std::filesystem::relative(file, c->data_dir).string(), core::FileRole::segment,
                              std::filesystem::file_size(file, size_ec),
                              static_cast<double>(rt - opened) / static_cast<double>(GST_SECOND)};
          service_->on_segment_closed(c->id, seg);
        }
      }
      gst_message_unref(msg);
    }
    gst_element_set_state(c->pipeline, GST_STATE_NULL);
    gst_object_unref(bus);
    if (!failure.empty()) {
      if (started) service_->on_capture_failed(c->id, failure);
      else report_start_failed(fmt::format("device '{}': {}", c->device, failure));
      return;
    }
    service_->on_capture_stopped(c->id);
  });
}

void GstCaptureDriver::stop(const core::RecordingId& id) {
  std::lock_guard lock(mutex_);
  if (auto it = captures_.find(id); it != captures_.end()) it->second->stop_requested = true;
}

void GstCaptureDriver::rotate(const core::RecordingId& id) {
  std::lock_guard lock(mutex_);
  if (auto it = captures_.find(id); it != captures_.end()) it->second->rotate_requested = true;
}

void GstCaptureDriver::stop_all() {
  std::map<core::RecordingId, std::shared_ptr<Capture>> all;
  {
    std::lock_guard lock(mutex_);
    all.swap(captures_);
  }
  for (auto& [id, c] : all) c->stop_requested = true;
  for (auto& [id, c] : all) {
    if (c->thread.joinable()) c->thread.join();
  }
}

}  // namespace recorder::adapters::gstreamer
