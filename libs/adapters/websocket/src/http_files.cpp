#include "http_files.hpp"

#include <charconv>
#include <fstream>

#include <fmt/format.h>

#include "json.hpp"

namespace recorder::adapters::websocket {
namespace {

bool parse_u64(std::string_view s, std::uint64_t& v) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc{} && p == s.data() + s.size();
}

bool safe_segment(const std::string& s) {
  return !s.empty() && s != "." && s != ".." && s.find('/') == std::string::npos && s.find('\\') == std::string::npos &&
         s.find('\0') == std::string::npos;
}

std::string percent_decode(std::string_view s, bool& ok) {
  std::string out;
  ok = true;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      unsigned v = 0;
      auto [p, ec] = std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16);
      if (ec != std::errc{} || p != s.data() + i + 3) {
        ok = false;
        return {};
      }
      out += static_cast<char>(v);
      i += 2;
    } else if (s[i] == '%') {
      ok = false;
      return {};
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace

HttpReply json_error(int status, const std::string& code, const std::string& message) {
  rapidjson::StringBuffer buffer;
  json::Writer w(buffer);
  w.StartObject();
  w.Key("error");
  w.StartObject();
  json::put(w, "code", code);
  json::put(w, "message", message);
  w.EndObject();
  w.EndObject();
  return HttpReply{status, {{"Content-Type", "application/json"}}, std::string(buffer.GetString(), buffer.GetSize())};
}

std::string content_type_for(const std::string& name) {
  const auto dot = name.rfind('.');
  const std::string ext = dot == std::string::npos ? "" : name.substr(dot + 1);
  if (ext == "webm") return "video/webm";
  if (ext == "mp4") return "video/mp4";
  if (ext == "wav") return "audio/wav";
  if (ext == "ogg") return "audio/ogg";
  if (ext == "mkv") return "video/x-matroska";
  if (ext == "mp3") return "audio/mpeg";
  return "application/octet-stream";
}

std::optional<ByteRange> parse_range(const std::string& header, std::uint64_t size, std::string& error) {
  if (header.empty()) return std::nullopt;
  const std::string_view prefix = "bytes=";
  if (header.rfind(prefix, 0) != 0 || header.find(',') != std::string::npos) {
    error = "only a single byte range is supported (Range: bytes=first-last)";
    return std::nullopt;
  }
  const std::string_view spec = std::string_view(header).substr(prefix.size());
  const auto dash = spec.find('-');
  if (dash == std::string_view::npos) {
    error = "malformed Range header";
    return std::nullopt;
  }
  const std::string_view a = spec.substr(0, dash);
  const std::string_view b = spec.substr(dash + 1);
  std::uint64_t first = 0;
  std::uint64_t last = size == 0 ? 0 : size - 1;
  if (a.empty()) {  // suffix: the last N bytes
    std::uint64_t n = 0;
    if (!parse_u64(b, n) || n == 0 || size == 0) {
      error = "unsatisfiable Range";
      return std::nullopt;
    }
    first = n >= size ? 0 : size - n;
  } else {
    if (!parse_u64(a, first) || (!b.empty() && !parse_u64(b, last))) {
      error = "malformed Range header";
      return std::nullopt;
    }
    if (first >= size || last < first) {
      error = "unsatisfiable Range";
      return std::nullopt;
    }
    if (last >= size) last = size - 1;
  }
  return ByteRange{first, last};
}

HttpReply serve_media(const std::filesystem::path& media_root, const std::string& resource,
                      const std::string& range_header, bool head_only, std::uint64_t max_body) {
  // /media/<dir>/<file>[?query]
  std::string path = resource.substr(0, resource.find('?'));
  const std::string prefix = "/media/";
  if (path.rfind(prefix, 0) != 0) return json_error(404, "not_found", "no such resource");
  bool ok = true;
  const std::string rest = percent_decode(std::string_view(path).substr(prefix.size()), ok);
  const auto slash = rest.find('/');
  if (!ok || slash == std::string::npos) return json_error(404, "not_found", "expected /media/<recording>/<file>");
  const std::string dir = rest.substr(0, slash);
  const std::string file = rest.substr(slash + 1);
  if (!safe_segment(dir) || !safe_segment(file)) return json_error(404, "not_found", "no such file");
  const auto full = media_root / dir / file;
  std::error_code ec;
  const auto size = std::filesystem::file_size(full, ec);
  if (ec) return json_error(404, "not_found", fmt::format("no file {}/{}", dir, file));

  std::string range_error;
  const auto range = parse_range(range_header, size, range_error);
  if (!range_error.empty()) {
    HttpReply r = json_error(416, "range_not_satisfiable", range_error);
    r.headers.emplace_back("Content-Range", fmt::format("bytes */{}", size));
    return r;
  }
  const std::uint64_t first = range ? range->first : 0;
  const std::uint64_t length = range ? range->last - range->first + 1 : size;
  if (length > max_body && !head_only) {
    HttpReply r = json_error(416, "range_required",
                             fmt::format("the file has {} bytes; ask for at most {} at a time with a Range header",
                                         size, max_body));
    r.headers.emplace_back("Content-Range", fmt::format("bytes */{}", size));
    r.headers.emplace_back("Accept-Ranges", "bytes");
    return r;
  }
  HttpReply reply;
  reply.status = range ? 206 : 200;
  reply.headers = {{"Content-Type", content_type_for(file)}, {"Accept-Ranges", "bytes"}};
  if (range) reply.headers.emplace_back("Content-Range", fmt::format("bytes {}-{}/{}", range->first, range->last, size));
  if (head_only) {
    reply.headers.emplace_back("Content-Length", std::to_string(length));
    return reply;
  }
  std::ifstream in(full, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(first));
  reply.body.resize(length);
  in.read(reply.body.data(), static_cast<std::streamsize>(length));
  if (static_cast<std::uint64_t>(in.gcount()) != length)
    return json_error(500, "io_error", fmt::format("could not read {}/{}", dir, file));
  return reply;
}

}  // namespace recorder::adapters::websocket
