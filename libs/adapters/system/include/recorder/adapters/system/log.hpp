#pragma once

#include <string_view>

#include <fmt/format.h>

namespace recorder::adapters::system {

enum class LogLevel { debug, info, warn, error };

// Sets the lowest level that is written; "debug", "info", "warn" or "error".
void set_log_level(std::string_view level);
bool log_enabled(LogLevel level);

// Writes one logfmt line to stderr: ts=... level=... then `fields` (msg="..." key=value ...).
void log_line(LogLevel level, std::string_view fields);

template <typename... Args>
void log(LogLevel level, fmt::format_string<Args...> format, Args&&... args) {
  if (log_enabled(level)) log_line(level, fmt::format(format, std::forward<Args>(args)...));
}

// A value quoted for logfmt: "..." with \" and \\ escaped, newlines as \n.
std::string quote_value(std::string_view value);

}  // namespace recorder::adapters::system
