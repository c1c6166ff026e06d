#include "recorder/adapters/http/media.hpp"

#include <charconv>
#include <fstream>
#include <functional>

#include <fmt/format.h>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace recorder::adapters::http {
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

}  // namespace

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

Response serve_media(const std::filesystem::path& media_root, const std::string& dir, const std::string& file,
                     const std::string& range_header, bool head_only, std::uint64_t max_body) {
  if (!safe_segment(dir) || !safe_segment(file)) return json_error(404, "not_found", "no such file");
  const auto full = media_root / dir / file;
  std::error_code ec;
  const auto size = std::filesystem::file_size(full, ec);
  if (ec) return json_error(404, "not_found", fmt::format("no file {}/{}", dir, file));

  std::string range_error;
  const auto range = parse_range(range_header, size, range_error);
  if (!range_error.empty()) {
    Response r = json_error(416, "range_not_satisfiable", range_error);
    r.headers.emplace_back("Content-Range", fmt::format("bytes */{}", size));
    return r;
  }
  const std::uint64_t first = range ? range->first : 0;
  const std::uint64_t length = range ? range->last - range->first + 1 : size;
  if (length > max_body && !head_only) {
    Response r = json_error(416, "range_required",
                             fmt::format("the file has {} bytes; ask for at most {} at a time with a Range header",
                                         size, max_body));
    r.headers.emplace_back("Content-Range", fmt::format("bytes */{}", size));
    r.headers.emplace_back("Accept-Ranges", "bytes");
    return r;
  }
  Response reply;
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

}  // namespace recorder::adapters::http

namespace recorder::adapters::http {

void add_media_routes(Router& router, std::filesystem::path media_root, std::uint64_t max_body, MediaAccess access) {
  router.add("GET", "/media/{dir}/{file}", [media_root, max_body, access = std::move(access)](const Request& r) {
    if (access) {
      if (auto allowed = access(r); !allowed) return error_response(allowed.error());
    }
    return serve_media(media_root, r.params.at("dir"), r.params.at("file"), r.header("Range").value_or(""),
                       r.method == "HEAD", max_body);
  });
}

std::string encode_path_segment(std::string_view segment) {
  std::string out;
  out.reserve(segment.size());
  for (const char c : segment) {
    const auto u = static_cast<unsigned char>(c);
    if ((u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z') || (u >= '0' && u <= '9') || c == '-' || c == '.' ||
        c == '_' || c == '~')
      out += c;
    else
      out += fmt::format("%{:02X}", u);
  }
  return out;
}

MediaLinks::MediaLinks(const core::UrlSigner& signer, std::string public_base,
                       std::function<std::string()> fallback_host)
    : signer_(signer), public_base_(std::move(public_base)), fallback_host_(std::move(fallback_host)) {
  while (!public_base_.empty() && public_base_.back() == '/') public_base_.pop_back();
}

MediaLinks::Link MediaLinks::link(std::string_view stored_path, std::string_view host, core::WallTime expires_at) const {
  // Stored paths are "recordings/<dir>/<file>"; they are served as /media/<dir>/<file>.
  constexpr std::string_view kPrefix = "recordings/";
  if (stored_path.starts_with(kPrefix)) stored_path.remove_prefix(kPrefix.size());
  std::string path = "/media";
  while (!stored_path.empty()) {
    const auto slash = stored_path.find('/');
    path += "/" + encode_path_segment(stored_path.substr(0, slash));
    stored_path = slash == std::string_view::npos ? std::string_view{} : stored_path.substr(slash + 1);
  }
  const std::string base = !public_base_.empty() ? public_base_
                           : !host.empty()       ? fmt::format("http://{}", host)
                                                 : fmt::format("http://{}", fallback_host_());
  return Link{fmt::format("{}{}?{}", base, path, signer_.sign(path, expires_at)), expires_at};
}

void add_health_routes(Router& router, std::vector<ReadinessCheck> checks) {
  router.add("GET", "/healthz", [](const Request&) { return text(200, "ok\n"); });
  router.add("GET", "/readyz", [checks = std::move(checks)](const Request&) {
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
    bool ready = true;
    w.StartObject();
    w.Key("checks");
    w.StartObject();
    std::vector<std::string> reasons;
    for (const auto& check : checks) {
      const auto problem = check.problem();
      w.Key(check.name.c_str());
      w.String(problem ? "failing" : "ok");
      if (problem) {
        ready = false;
        reasons.push_back(check.name + ": " + *problem);
      }
    }
    w.EndObject();
    w.Key("ready");
    w.Bool(ready);
    w.Key("reasons");
    w.StartArray();
    for (const auto& reason : reasons) w.String(reason.c_str(), static_cast<rapidjson::SizeType>(reason.size()));
    w.EndArray();
    w.EndObject();
    return Response{ready ? 200 : 503, {{"Content-Type", "application/json"}}, buffer.GetString()};
  });
}

void add_asset(Router& router, std::string path, std::string type, std::string_view body, std::string csp) {
  // Revalidated at each load by its ETag (a hash of the body): a browser keeps what it has
  // until an upgraded daemon serves something else.
  const std::string etag = fmt::format("\"{:016x}\"", std::hash<std::string_view>{}(body));
  router.add("GET", std::move(path), [type = type + "; charset=utf-8", body, csp = std::move(csp), etag](const Request& request) {
    const bool same = request.header("If-None-Match") == etag;
    auto r = same ? Response{304, {}, ""} : text(200, std::string(body), type);
    r.set_header("ETag", etag);
    r.set_header("Cache-Control", "no-cache");
    r.set_header("X-Content-Type-Options", "nosniff");
    r.set_header("Referrer-Policy", "no-referrer");
    if (!csp.empty()) r.set_header("Content-Security-Policy", csp);
    return r;
  });
}

}  // namespace recorder::adapters::http
