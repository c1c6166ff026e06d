#include <catch2/catch.hpp>

#include "recorder/core/app/error_mapping.hpp"

using namespace recorder::core;

TEST_CASE("seed 003's codes map from the domain errors", "[errors]") {
  CHECK(rpc_code(Errc::device_busy) == -1006);
  CHECK(rpc_code(Errc::storage_low) == -1008);
  CHECK(rpc_code(Errc::storage_critical) == -1010);
  CHECK(rpc_code(Errc::storage_unavailable) == -1005);
  CHECK(rpc_code(Errc::invalid_argument) == -32602);
  CHECK(rpc_code(Errc::internal) == -32603);
}

TEST_CASE("domain errors map to HTTP statuses a client can act on", "[errors]") {
  CHECK(http_status(Errc::invalid_argument) == 400);
  CHECK(http_status(Errc::not_found) == 404);
  CHECK(http_status(Errc::device_busy) == 409);
  CHECK(http_status(Errc::chunk_too_large) == 413);
  CHECK(http_status(Errc::storage_critical) == 503);
  CHECK(http_status(Errc::storage_full) == 507);
  CHECK(http_status(Errc::unauthenticated) == 401);
  CHECK(http_status(Errc::forbidden) == 403);
  CHECK(http_status(Errc::unavailable) == 503);
  CHECK(http_status(Errc::internal) == 500);
}

TEST_CASE("every error code has a name", "[errors]") {
  for (int i = 0; i <= static_cast<int>(Errc::internal); ++i) {
    CHECK(to_string(static_cast<Errc>(i)) != "unknown");
  }
}
