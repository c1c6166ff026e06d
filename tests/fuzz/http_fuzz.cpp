// HTTP as the listener hands it to the router: a request line ("METHOD target"), then
// header lines ("Name: value"), then an empty line and the body. Routed through the
// daemon's kinds of routes (media with Range, health, a page, a path with a parameter),
// with query parsing and percent-decoding. Nothing outside the media root is ever served:
// a file beside it holds a token the fuzzer cannot know, and every media answer must be
// bytes of the one media file.
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "recorder/adapters/http/media.hpp"
#include "recorder/adapters/http/router.hpp"

namespace {

namespace http = recorder::adapters::http;

struct Fixture {
  Fixture() {
    root = std::filesystem::temp_directory_path() / ("recorderd-http-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(root / "media" / "rec");
    std::ofstream(root / "media" / "rec" / "original.webm") << "0123456789";
    std::ofstream(root / "secret") << secret;
    http::add_media_routes(router, root / "media", 1 << 20);
    http::add_health_routes(router, {{"store", [] { return std::optional<std::string>{}; }}});
    http::add_asset(router, "/", "text/html", "<html></html>");
    router.add("GET", "/api/recordings/{id}", [](const http::Request& r) {
      // Reads its parameter and query, echoes neither: a 2xx body never repeats the request.
      return http::text(200, r.params.at("id").empty() || r.query_value("state") ? "ok" : "ok.");
    });
  }
  std::filesystem::path root;
  std::string secret = "secret-" + std::to_string(std::random_device{}()) + std::to_string(std::random_device{}());
  http::Router router;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Fixture f;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const auto line = [&] {
    const auto end = in.find('\n');
    std::string_view l = in.substr(0, end);
    in = end == std::string_view::npos ? std::string_view{} : in.substr(end + 1);
    return l;
  };
  http::Request r;
  const std::string_view first = line();
  const auto space = first.find(' ');
  r.method = std::string(first.substr(0, space));
  r.target = space == std::string_view::npos ? "/" : std::string(first.substr(space + 1));
  for (std::string_view h = line(); !h.empty(); h = line()) {
    const auto colon = h.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view value = h.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    r.headers.emplace_back(std::string(h.substr(0, colon)), std::string(value));
  }
  r.body = std::string(in);
  const http::Response response = f.router.handle(std::move(r));
  if (response.status < 100 || response.status > 599) std::abort();
  // Errors may quote the request (which may name the token); a success may not hold it.
  const bool success = response.status >= 200 && response.status < 300;
  if (success && response.body.find(f.secret) != std::string::npos) std::abort();  // escaped the media root
  const bool media = std::ranges::any_of(response.headers, [](const auto& h) { return h.second == "video/webm"; });
  if (media && success &&
      std::string_view("0123456789").find(response.body) == std::string_view::npos)
    std::abort();  // served bytes that are not the media file's
  return 0;
}
