// The HTTP request table without sockets: routing, parameters, query, errors, HEAD,
// readiness and media with Range.

#include <catch2/catch.hpp>

#include <fstream>

#include "recorder/adapters/http/media.hpp"
#include "recorder/adapters/http/router.hpp"
#include "recorder/testing/temp_dir.hpp"

using namespace recorder::adapters::http;

namespace {

Request req(std::string method, std::string target, Headers headers = {}) {
  Request r;
  r.method = std::move(method);
  r.target = std::move(target);
  r.headers = std::move(headers);
  return r;
}

Router sample() {
  Router router;
  router.add("GET", "/api/recordings/{id}", [](const Request& r) {
    return text(200, r.params.at("id") + "|" + r.query_value("expiry_hours").value_or("-"));
  });
  router.add("POST", "/api/recordings/{id}/stop", [](const Request& r) { return text(200, "stopped " + r.params.at("id")); });
  router.add("GET", "/boom", [](const Request&) -> Response { throw std::runtime_error("kaput"); });
  return router;
}

}  // namespace

TEST_CASE("a route matches with its decoded path parameters and query", "[http]") {
  const Router router = sample();
  auto r = router.handle(req("GET", "/api/recordings/a%20b?expiry_hours=48&x=%2F"));
  CHECK(r.status == 200);
  CHECK(r.body == "a b|48");
}

TEST_CASE("unknown path is 404 and another method is 405 with Allow - both in the error shape", "[http]") {
  const Router router = sample();
  auto missing = router.handle(req("GET", "/api/nothing"));
  CHECK(missing.status == 404);
  CHECK(missing.body.find(R"({"error":{"code":"not_found","message":)") == 0);
  auto wrong = router.handle(req("DELETE", "/api/recordings/x"));
  CHECK(wrong.status == 405);
  bool allow = false;
  for (const auto& [k, v] : wrong.headers) allow |= k == "Allow" && v == "GET, HEAD";
  CHECK(allow);
  CHECK(wrong.body.find("method_not_allowed") != std::string::npos);
  CHECK(router.handle(req("GET", "/api/recordings/x/stop")).status == 405);
}

TEST_CASE("malformed query or path encoding is a 400 that names the problem", "[http]") {
  const Router router = sample();
  auto bad = router.handle(req("GET", "/api/recordings/x?a=%zz"));
  CHECK(bad.status == 400);
  CHECK(bad.body.find("malformed query parameter 'a=%zz'") != std::string::npos);
  CHECK(router.handle(req("GET", "/api/rec%G1")).status == 400);
  // An encoded separator is part of the parameter (recording ids may hold '/'), a raw one is not.
  CHECK(router.handle(req("GET", "/api/recordings/a%2Fb")).body == "a/b|-");
  CHECK(router.handle(req("GET", "/api/recordings/a/b")).status == 404);
}

TEST_CASE("HEAD is answered by GET without the body - a throwing handler is a 500", "[http]") {
  const Router router = sample();
  auto head = router.handle(req("HEAD", "/api/recordings/abc"));
  CHECK(head.status == 200);
  CHECK(head.body.empty());
  bool length = false;
  for (const auto& [k, v] : head.headers) length |= k == "Content-Length" && v == "5";
  CHECK(length);
  auto boom = router.handle(req("GET", "/boom"));
  CHECK(boom.status == 500);
  CHECK(boom.body.find("kaput") != std::string::npos);
}

TEST_CASE("readyz is 200 while every check passes - else 503 with the reasons", "[http]") {
  bool store_down = false;
  Router router;
  add_health_routes(router, {{"store", [&]() -> std::optional<std::string> {
                                return store_down ? std::optional<std::string>{"connection refused"} : std::nullopt;
                              }}});
  CHECK(router.handle(req("GET", "/healthz")).status == 200);
  CHECK(router.handle(req("GET", "/readyz")).status == 200);
  store_down = true;
  auto r = router.handle(req("GET", "/readyz"));
  CHECK(r.status == 503);
  CHECK(r.body.find("store: connection refused") != std::string::npos);
  CHECK(router.handle(req("GET", "/healthz")).status == 200);  // cheap: checks nothing
}

TEST_CASE("media are served with Range and never outside their root", "[http]") {
  recorder::testing::TempDir dir;
  std::filesystem::create_directories(dir.path() / "rec1");
  std::ofstream(dir.path() / "rec1" / "original.webm") << "0123456789";
  std::ofstream(dir.path() / "secret.txt") << "no";
  Router router;
  add_media_routes(router, dir.path(), 1024);
  auto whole = router.handle(req("GET", "/media/rec1/original.webm"));
  CHECK(whole.status == 200);
  CHECK(whole.body == "0123456789");
  auto part = router.handle(req("GET", "/media/rec1/original.webm", {{"range", "bytes=2-4"}}));
  CHECK(part.status == 206);
  CHECK(part.body == "234");
  CHECK(router.handle(req("GET", "/media/rec1/original.webm", {{"Range", "bytes=20-"}})).status == 416);
  CHECK(router.handle(req("GET", "/media/../secret.txt")).status == 404);
  CHECK(router.handle(req("GET", "/media/%2E%2E/secret.txt")).status == 404);
  CHECK(router.handle(req("GET", "/media/rec1/nothing.webm")).status == 404);
}
