#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "recorder/core/app/recording_service.hpp"
#include "recorder/core/domain/device.hpp"
#include "recorder/core/ports/capture_driver.hpp"

namespace recorder::adapters::gstreamer {

// Records devices with GStreamer into H.264 in fragmented MP4 segments (readable up to the
// last fragment after a crash), named <device>_%Y-%m-%d_%H-%M-%S.mp4 (seed 003). The core
// decides when a segment ends (rotation deadline); the driver cuts at the next key frame,
// so no frame is lost between segments. Sources, by the device's configured source:
//   test                 a live test pattern (videotestsrc)
//   v4l2:/dev/videoN     a V4L2 camera
//   rtsp://... http://...  any URI GStreamer can decode
//   pipeline:<desc>      a gst-launch description of a raw video source
// Everything that happens is reported to the service from the capture's own thread.
class GstCaptureDriver final : public core::CaptureDriver {
 public:
  // `allowed_urls`: a recording whose device is no configured device's name is captured
  // from that URL when it matches one of these patterns (capture.allowed_urls).
  GstCaptureDriver(std::vector<core::Device> devices, std::filesystem::path data_dir,
                   std::chrono::seconds keyframe_interval = std::chrono::seconds(2),
                   std::vector<std::string> allowed_urls = {});
  ~GstCaptureDriver() override;
  GstCaptureDriver(const GstCaptureDriver&) = delete;
  GstCaptureDriver& operator=(const GstCaptureDriver&) = delete;

  void bind(core::RecordingService& service);
  // Stops every capture at once (EOS, then at most a few seconds) and joins.
  void stop_all();

  // Port
  void start(const core::Recording& r) override;
  void stop(const core::RecordingId& id) override;
  void rotate(const core::RecordingId& id) override;

  // The gst-launch description of a configured source.
  static std::string source_description(const core::DeviceSource& source);

  struct Capture;  // one running pipeline (defined in the source file)

 private:
  std::vector<core::Device> devices_;
  std::vector<std::string> allowed_urls_;
  std::filesystem::path data_dir_;
  std::chrono::seconds keyframe_interval_;
  core::RecordingService* service_ = nullptr;
  std::mutex mutex_;
  std::map<core::RecordingId, std::shared_ptr<Capture>> captures_;
};

}  // namespace recorder::adapters::gstreamer
