#pragma once

#include <span>
#include <string>
#include <string_view>

#include "recorder/core/domain/error.hpp"

namespace recorder::core {

// A capture source as configured (capture.devices): the one place its text is parsed.
//   test               a live test pattern
//   v4l2:/dev/videoN   a V4L2 camera
//   <scheme>://...     any URI the media adapter can decode
//   pipeline:<desc>    a gst-launch description of a raw video source
struct DeviceSource {
  enum class Type { test, v4l2, uri, pipeline };
  Type type = Type::test;
  std::string location;  // v4l2: the device path; uri: the URI; pipeline: the description

  bool operator==(const DeviceSource&) const = default;
};

// An error names the source and what is accepted.
Result<DeviceSource> parse_device_source(std::string_view text);

// A configured capture device: its name (seed 003's camera_id) and its source.
struct Device {
  std::string name;
  DeviceSource source;
  std::string source_text;  // as configured, for display and configuration round trips

  bool operator==(const Device&) const = default;
};

// What seed 003 calls the camera's `device`: the V4L2 path, else the source as configured.
std::string device_path(const Device& d);

// The device a client names, by its name or by its device path (seed 003 clients send
// either); null when none matches.
const Device* find_device(std::span<const Device> devices, std::string_view name_or_path);

// Whether `url` (scheme://...) matches one of `patterns` (capture.allowed_urls), where '*'
// stands for any run of characters and everything else for itself. A URL outside the
// patterns is never captured: no server-side request goes to an arbitrary address.
bool url_allowed(std::span<const std::string> patterns, std::string_view url);

}  // namespace recorder::core
