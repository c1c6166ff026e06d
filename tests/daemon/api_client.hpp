#pragma once

// The REST API from a test: a real HTTP client (libcurl) against the daemon in-process.

#include <catch2/catch.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "daemon_fixture.hpp"

namespace recorder::testing {

struct Api {
  const RunningDaemon& d;

  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(d.daemon->port()) + path; }
  HttpAnswer call(const std::string& method, const std::string& path, const std::string& token,
                  const std::string& body = "") const {
    std::vector<std::string> headers;
    if (!token.empty()) headers.push_back("Authorization: Bearer " + token);
    if (!body.empty()) headers.push_back("Content-Type: application/json");
    auto a = http_request(method, url(path), headers, body);
    INFO(method << " " << path << " -> " << a.status << " " << a.body.substr(0, 400) << a.error);
    REQUIRE(a.error.empty());
    return a;
  }
};

// The token recorderd wrote at its first start into `data` (its data directory).
inline std::string admin_token(const std::filesystem::path& data) {
  auto text = read_file(data / "admin.token");
  REQUIRE(text.size() > 10);
  REQUIRE(text.back() == '\n');
  text.pop_back();
  return text;
}
inline std::string admin_token(const RunningDaemon& d) { return admin_token(d.dir.path()); }

}  // namespace recorder::testing
