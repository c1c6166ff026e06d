// ISO 8601 as clients send it and as answers show it.

#include <catch2/catch.hpp>

#include "recorder/core/domain/time_text.hpp"

using namespace recorder::core;
using namespace std::chrono_literals;

TEST_CASE("one instant written with Z - an offset - or naive is one time", "[core][time]") {
  const auto z = parse_iso8601("2025-10-30T15:00:00Z");
  REQUIRE(z);
  CHECK(format_utc(*z) == "2025-10-30T15:00:00Z");
  CHECK(parse_iso8601("2025-10-30T15:00:00") == z);
  CHECK(parse_iso8601("2025-10-30T17:00:00+02:00") == z);
  CHECK(parse_iso8601("2025-10-30T09:30:00-0530") == z);
  CHECK(parse_iso8601("2025-10-30 15:00:00z") == z);
  CHECK(parse_iso8601("2025-10-30T15:00Z") == z);
  const auto frac = parse_iso8601("2025-10-30T15:00:00.250Z");
  REQUIRE(frac);
  CHECK(*frac - *z == 250ms);
  CHECK(format_utc(*frac) == "2025-10-30T15:00:00Z");
  CHECK(parse_iso8601("2024-02-29T00:00:00Z"));
}

TEST_CASE("what is not an ISO 8601 time is a clear error", "[core][time]") {
  for (const char* bad : {"", "yesterday", "2025-10-30", "2025-13-01T00:00:00Z", "2025-02-29T00:00:00Z",
                          "2025-10-30T24:00:00Z", "2025-10-30T15:00:00+25:00", "2025-10-30T15:00:00Zjunk",
                          "2025-10-30T15:00:00.Z", "20251030T150000Z", "2025-10-30T15:00:00 +02:00",
                          // past what a 64-bit count of nanoseconds holds (was an overflow)
                          "4050-10-30T15:00:00Z", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z"}) {
    INFO(bad);
    auto t = parse_iso8601(bad);
    REQUIRE_FALSE(t);
    CHECK(t.error().code == Errc::invalid_argument);
    CHECK_THAT(t.error().message, Catch::Contains("is not an ISO 8601 date and time"));
  }
}
