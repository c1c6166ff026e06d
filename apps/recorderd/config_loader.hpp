#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "recorder/core/app/config.hpp"

namespace recorder::app {

// Where settings come from, lowest priority first: defaults, the config file, the
// environment (RECORDER_*, then seed 003's names below them), command-line flags.
struct ConfigSources {
  std::optional<std::string> file;                          // --config
  std::vector<std::pair<std::string, std::string>> flags;   // --set key=value, --listen, ...
  std::map<std::string, std::string> environment;           // the process environment
};

// Layers the sources into a validated Config; the error names the key and its origin.
core::Result<core::Config> load_config(const ConfigSources& sources);

// The process environment as a map.
std::map<std::string, std::string> current_environment();

}  // namespace recorder::app
