#include "config_loader.hpp"

#include <fstream>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

extern char** environ;

namespace recorder::app {

core::Result<core::Config> load_config(const ConfigSources& sources) {
  core::ConfigBuilder builder;
  if (sources.file) {
    std::ifstream in(*sources.file);
    if (!in) return core::fail(core::Errc::invalid_argument, fmt::format("cannot read config file '{}'", *sources.file));
    std::vector<CLI::ConfigItem> items;
    try {
      items = CLI::ConfigTOML().from_config(in);
    } catch (const CLI::Error& e) {
      return core::fail(core::Errc::invalid_argument, fmt::format("config file '{}': {}", *sources.file, e.what()));
    }
    for (const CLI::ConfigItem& item : items) {
      if (item.name == "++" || item.name == "--") continue;  // section markers
      if (item.inputs.size() != 1)
        return core::fail(core::Errc::invalid_argument,
                          fmt::format("{}: expected one value (from config file '{}')", item.fullname(), *sources.file));
      if (auto r = builder.set(item.fullname(), item.inputs.front(), fmt::format("config file '{}'", *sources.file)); !r)
        return std::unexpected(r.error());
    }
  }
  for (const core::LegacyEnv& legacy : core::legacy_env()) {
    if (auto it = sources.environment.find(std::string(legacy.variable)); it != sources.environment.end()) {
      if (auto r = builder.set(legacy.key, it->second, fmt::format("environment {}", legacy.variable)); !r)
        return std::unexpected(r.error());
    }
  }
  for (const core::ConfigKey& key : core::config_keys()) {
    const std::string var = core::env_name(key.name);
    if (auto it = sources.environment.find(var); it != sources.environment.end()) {
      if (auto r = builder.set(key.name, it->second, fmt::format("environment {}", var)); !r)
        return std::unexpected(r.error());
    }
  }
  for (const auto& [key, value] : sources.flags) {
    if (auto r = builder.set(key, value, fmt::format("flag for {}", key)); !r) return std::unexpected(r.error());
  }
  return builder.build();
}

std::map<std::string, std::string> current_environment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string entry(*e);
    if (auto eq = entry.find('='); eq != std::string::npos) env.emplace(entry.substr(0, eq), entry.substr(eq + 1));
  }
  return env;
}

}  // namespace recorder::app
