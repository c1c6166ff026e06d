#pragma once

// Serving finished media over HTTP with Range (RFC 9110 single ranges). No websocketpp.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace recorder::adapters::websocket {

struct HttpReply {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

// A byte range [first, last] of a resource of `size` bytes, from a Range header value;
// nothing when the header is absent; an error text when it cannot be satisfied.
struct ByteRange {
  std::uint64_t first;
  std::uint64_t last;
};
std::optional<ByteRange> parse_range(const std::string& header, std::uint64_t size, std::string& error);

// GET /media/<dir>/<file> under `media_root`. Refuses paths that leave it. Bodies larger
// than `max_body` need a Range (416 tells the client so).
HttpReply serve_media(const std::filesystem::path& media_root, const std::string& resource,
                      const std::string& range_header, bool head_only, std::uint64_t max_body);

std::string content_type_for(const std::string& file_name);

// {"error": {"code": ..., "message": ...}}
HttpReply json_error(int status, const std::string& code, const std::string& message);

}  // namespace recorder::adapters::websocket
