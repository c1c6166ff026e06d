#pragma once

// The private PostgreSQL server the ctest fixture starts (tests/support/postgres.sh), for
// Catch tests that need it. The including target defines RECORDER_SOURCE_DIR.

#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <string>

namespace recorder::testing {

inline std::string test_postgres_dir() {
  const char* dir = std::getenv("RECORDER_TEST_POSTGRES_DIR");
  INFO("RECORDER_TEST_POSTGRES_DIR must name the directory of a server started by tests/support/postgres.sh init");
  REQUIRE(dir != nullptr);
  return dir;
}

// The libpq URL of the server's `postgres` database.
inline std::string test_postgres_url() {
  std::ifstream in(test_postgres_dir() + "/url");
  std::string url;
  std::getline(in, url);
  REQUIRE_FALSE(url.empty());
  return url;
}

// `stop` or `start` the server (to test what a restart or an outage does).
inline void test_postgres(const std::string& command) {
  const std::string script = std::string(RECORDER_SOURCE_DIR) + "/tests/support/postgres.sh";
  REQUIRE(std::system((script + " " + command + " " + test_postgres_dir()).c_str()) == 0);
}

}  // namespace recorder::testing
