#include "recorder/core/domain/time_text.hpp"

#include <chrono>
#include <optional>

#include <fmt/chrono.h>
#include <fmt/format.h>

namespace recorder::core {
namespace {

// Reads exactly `n` digits at `at`, advancing it.
std::optional<int> digits(std::string_view s, std::size_t& at, std::size_t n) {
  if (at + n > s.size()) return std::nullopt;
  int v = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const char c = s[at + i];
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  at += n;
  return v;
}

bool expect(std::string_view s, std::size_t& at, char c) {
  if (at >= s.size() || s[at] != c) return false;
  ++at;
  return true;
}

}  // namespace

std::string format_utc(WallTime t) {
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}Z", std::chrono::floor<std::chrono::seconds>(t));
}

Result<WallTime> parse_iso8601(std::string_view s) {
  const auto bad = [&](std::string_view what) {
    return fail(Errc::invalid_argument,
                fmt::format("'{}' is not an ISO 8601 date and time ({}); expected e.g. 2025-10-30T15:00:00Z, "
                            "2025-10-30T17:00:00+02:00 or 2025-10-30T15:00:00 (UTC)",
                            s.substr(0, 64), what));
  };
  std::size_t at = 0;
  const auto year = digits(s, at, 4);
  if (!year || !expect(s, at, '-')) return bad("the date");
  const auto month = digits(s, at, 2);
  if (!month || !expect(s, at, '-')) return bad("the date");
  const auto day = digits(s, at, 2);
  if (!day) return bad("the date");
  if (!expect(s, at, 'T') && !expect(s, at, ' ')) return bad("no time after the date");
  const auto hour = digits(s, at, 2);
  if (!hour || !expect(s, at, ':')) return bad("the time");
  const auto minute = digits(s, at, 2);
  if (!minute) return bad("the time");
  int second = 0;
  std::chrono::microseconds fraction{0};
  if (expect(s, at, ':')) {
    const auto sec = digits(s, at, 2);
    if (!sec) return bad("the seconds");
    second = *sec;
    if (expect(s, at, '.') || expect(s, at, ',')) {
      std::size_t n = 0;
      long long us = 0;
      while (at < s.size() && s[at] >= '0' && s[at] <= '9') {
        if (n < 6) us = us * 10 + (s[at] - '0');
        ++n;
        ++at;
      }
      if (n == 0) return bad("the fraction of a second");
      for (std::size_t k = n; k < 6; ++k) us *= 10;
      fraction = std::chrono::microseconds{us};
    }
  }
  std::chrono::minutes offset{0};
  if (at < s.size()) {
    if (expect(s, at, 'Z') || expect(s, at, 'z')) {
    } else if (s[at] == '+' || s[at] == '-') {
      const int sign = s[at] == '-' ? -1 : 1;
      ++at;
      const auto oh = digits(s, at, 2);
      if (!oh) return bad("the offset");
      (void)expect(s, at, ':');
      const auto om = digits(s, at, 2);
      if (!om || *oh > 23 || *om > 59) return bad("the offset");
      offset = std::chrono::minutes{sign * (*oh * 60 + *om)};
    } else {
      return bad("what follows the time");
    }
  }
  if (at != s.size()) return bad("what follows the time");
  const std::chrono::year_month_day ymd{std::chrono::year{*year}, std::chrono::month{static_cast<unsigned>(*month)},
                                        std::chrono::day{static_cast<unsigned>(*day)}};
  if (!ymd.ok()) return bad("no such date");
  // The clock counts nanoseconds in 64 bits (years 1678 to 2262): outside a sane range the
  // conversion would overflow (found by the agent dialect's fuzz target).
  if (*year < 1900 || *year > 2200) return bad("the year is outside 1900-2200");
  if (*hour > 23 || *minute > 59 || second > 60) return bad("no such time");  // 60: a leap second
  const auto local = std::chrono::sys_days{ymd} + std::chrono::hours{*hour} + std::chrono::minutes{*minute} +
                     std::chrono::seconds{second} + fraction;
  return std::chrono::time_point_cast<WallTime::duration>(local - offset);
}

}  // namespace recorder::core
