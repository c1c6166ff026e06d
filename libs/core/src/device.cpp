#include "recorder/core/domain/device.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace recorder::core {

Result<DeviceSource> parse_device_source(std::string_view text) {
  using T = DeviceSource::Type;
  auto after = [&](std::string_view prefix) { return std::string(text.substr(prefix.size())); };
  if (text == "test") return DeviceSource{T::test, ""};
  if (text.starts_with("v4l2:") && text.size() > 5) return DeviceSource{T::v4l2, after("v4l2:")};
  if (text.starts_with("pipeline:") && text.size() > 9) return DeviceSource{T::pipeline, after("pipeline:")};
  if (const auto scheme = text.find("://"); scheme != std::string_view::npos && scheme > 0 && scheme + 3 < text.size())
    return DeviceSource{T::uri, std::string(text)};
  return fail(Errc::invalid_argument,
              fmt::format("unknown capture source '{}': expected test, v4l2:/dev/videoN, a URI (rtsp://...) or "
                          "pipeline:<gst-launch source>",
                          text));
}

std::string device_path(const Device& d) {
  return d.source.type == DeviceSource::Type::v4l2 ? d.source.location : d.source_text;
}

const Device* find_device(std::span<const Device> devices, std::string_view name_or_path) {
  auto it = std::ranges::find_if(devices, [&](const Device& d) { return d.name == name_or_path; });
  if (it == devices.end())
    it = std::ranges::find_if(devices, [&](const Device& d) {
      return d.source_text == name_or_path || device_path(d) == name_or_path;
    });
  return it == devices.end() ? nullptr : &*it;
}

}  // namespace recorder::core
