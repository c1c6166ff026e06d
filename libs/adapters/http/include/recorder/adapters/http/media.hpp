#pragma once

// Finished media over HTTP with Range (RFC 9110 single ranges), and the routes that serve
// them and the daemon's health.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "recorder/adapters/http/router.hpp"
#include "recorder/core/ports/url_signer.hpp"

namespace recorder::adapters::http {

// A byte range [first, last] of a resource of `size` bytes, from a Range header value;
// nothing when the header is absent; an error text when it cannot be satisfied.
struct ByteRange {
  std::uint64_t first;
  std::uint64_t last;
};
std::optional<ByteRange> parse_range(const std::string& header, std::uint64_t size, std::string& error);

// The file <dir>/<file> under `media_root`. Refuses names that leave it. Bodies larger
// than `max_body` need a Range (416 tells the client so).
Response serve_media(const std::filesystem::path& media_root, const std::string& dir, const std::string& file,
                     const std::string& range_header, bool head_only, std::uint64_t max_body);

std::string content_type_for(const std::string& file_name);

// Who may fetch a media file: nothing when the request may, else why not (a signed URL
// that does not verify is Errc::forbidden, no credentials Errc::unauthenticated).
using MediaAccess = std::function<core::Result<void>(const Request&)>;

// GET /media/{dir}/{file}: finished recordings under `media_root`, to requests `access`
// lets through (none: to every request).
void add_media_routes(Router& router, std::filesystem::path media_root, std::uint64_t max_body,
                      MediaAccess access = {});

// RFC 3986 percent-encoding of one path segment (everything but unreserved characters).
std::string encode_path_segment(std::string_view segment);

// The URLs recorderd hands out for stored media files ("recordings/<dir>/<file>"):
// /media/<dir>/<file> with each segment percent-encoded, signed by `signer`, on
// `public_base` (server.public_url) or, when that is empty, on http://<host> where host is
// the request's Host header (else `fallback_host`, the listen address). Any thread.
class MediaLinks {
 public:
  MediaLinks(const core::UrlSigner& signer, std::string public_base, std::function<std::string()> fallback_host);
  struct Link {
    std::string url;
    core::WallTime expires_at;
  };
  Link link(std::string_view stored_path, std::string_view host, core::WallTime expires_at) const;

 private:
  const core::UrlSigner& signer_;
  std::string public_base_;
  std::function<std::string()> fallback_host_;
};

// GET /healthz: the process answers (cheap, touches nothing). GET /readyz: 200 only while
// every check passes, else 503 with the reasons ({"ready": false, "reasons": [...]}).
struct ReadinessCheck {
  std::string name;
  std::function<std::optional<std::string>()> problem;  // nothing when fine, else why not
};
void add_health_routes(Router& router, std::vector<ReadinessCheck> checks);

// GET `path`: a file compiled into the binary (a page, a script, a style sheet), served as
// `type` in UTF-8 with nosniff and no Referer (pages hold signed links). A page may add a
// Content-Security-Policy (`csp`); none when empty.
void add_asset(Router& router, std::string path, std::string type, std::string_view body, std::string csp = {});

}  // namespace recorder::adapters::http
