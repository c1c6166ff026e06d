#pragma once

#include <string>
#include <string_view>

#include "recorder/core/domain/error.hpp"
#include "recorder/core/domain/types.hpp"

namespace recorder::core {

// ISO 8601 in UTC to the second, as every answer shows times: 2025-11-10T10:00:00Z.
std::string format_utc(WallTime t);

// An ISO 8601 date and time as clients send them: "2025-10-30T15:00:00", with a fraction
// of a second or not, and with "Z", an offset ("+02:00", "-0530") or none (naive is UTC).
// An error (Errc::invalid_argument) says what was expected.
Result<WallTime> parse_iso8601(std::string_view text);

}  // namespace recorder::core
