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

namespace {
// Glob with '*' only, iterative (a pattern cannot make it recurse or backtrack badly).
bool glob(std::string_view pattern, std::string_view text) {
  std::size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (p < pattern.size() && pattern[p] == text[t]) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}
}  // namespace

bool url_allowed(std::span<const std::string> patterns, std::string_view url) {
  if (url.find("://") == std::string_view::npos) return false;
  for (char c : url) {
    // No spaces or controls in a URL, nor what could leave a quoted pipeline argument.
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '"' || c == '\\') return false;
  }
  return std::ranges::any_of(patterns, [&](const std::string& p) { return glob(p, url); });
}

}  // namespace recorder::core
