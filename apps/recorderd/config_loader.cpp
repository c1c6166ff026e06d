#include "config_loader.hpp"

#include <fstream>
#include <iterator>
#include <string_view>

#include <optional>
#include <utility>
#include <vector>

#include <fmt/format.h>
#define TOML_HEADER_ONLY 1
#include <toml++/toml.h>

extern char** environ;

namespace recorder::app {

namespace {

// toml++ is compiled into this file alone (header-only), so that the fuzz target
// instruments the parser too; see docs/adr/0014-notifications.md.
std::string where(const std::string& file, const toml::node& node) {
  return fmt::format("config file '{}' line {}", file, node.source().begin.line);
}

// A scalar as the text ConfigBuilder parses; nothing for tables, lists and dates.
std::optional<std::string> scalar_text(const toml::node& node) {
  if (const auto* s = node.as_string()) return s->get();
  if (const auto* i = node.as_integer()) return fmt::format("{}", i->get());
  if (const auto* f = node.as_floating_point()) return fmt::format("{}", f->get());
  if (const auto* b = node.as_boolean()) return b->get() ? "true" : "false";
  return std::nullopt;
}

// A table's fields as {field, text}; a list of scalars becomes its items joined with ','.
core::Result<std::vector<std::pair<std::string, std::string>>> table_fields(const toml::table& table,
                                                                           const std::string& list,
                                                                           const std::string& file) {
  std::vector<std::pair<std::string, std::string>> fields;
  for (const auto& [key, node] : table) {
    const std::string field(key.str());
    std::optional<std::string> text = scalar_text(node);
    if (const auto* items = node.as_array()) {
      text.emplace();
      for (const toml::node& item : *items) {
        auto one = scalar_text(item);
        if (!one)
          return core::fail(core::Errc::invalid_argument,
                            fmt::format("{}.{}: expected a list of strings (from {})", list, field, where(file, item)));
        *text += (text->empty() ? "" : ",") + *one;
      }
    }
    if (!text)
      return core::fail(core::Errc::invalid_argument,
                        fmt::format("{}.{}: expected a string, a number or a list of strings (from {})", list, field,
                                    where(file, node)));
    fields.emplace_back(field, std::move(*text));
  }
  return fields;
}

// toml++ 3.3 (Debian's) reaches __builtin_unreachable for some non-ASCII characters, in
// more places than strings and comments (upstream issues #190 and #295, fixed after 3.3;
// the config fuzz target found two). Until Debian ships the fix the file must be ASCII; a
// value that needs other characters can be given by its RECORDER_ variable or --set.
core::Result<void> check_text(std::string_view text, const std::string& file) {
  std::size_t line = 1, column = 0;
  for (const char ch : text) {
    ++column;
    if (ch == '\n') {
      ++line;
      column = 0;
    } else if (static_cast<unsigned char>(ch) >= 0x80) {
      return core::fail(core::Errc::invalid_argument,
                        fmt::format("config file '{}' line {} column {}: only ASCII text is read in the config file "
                                    "(toml++ 3.3 mishandles some other characters); give such a value by its "
                                    "RECORDER_ environment variable or --set",
                                    file, line, column));
    }
  }
  return core::ok();
}

// Sets every key of `table` (dotted under `prefix`); [[webhooks]] tables become endpoints.
core::Result<void> read_table(const toml::table& table, const std::string& prefix, const std::string& file,
                              core::ConfigBuilder& builder) {
  for (const auto& [k, node] : table) {
    const std::string key = prefix.empty() ? std::string(k.str()) : fmt::format("{}.{}", prefix, k.str());
    if (const auto* sub = node.as_table()) {
      if (auto r = read_table(*sub, key, file, builder); !r) return r;
      continue;
    }
    if (const auto* list = node.as_array()) {
      if (key != "webhooks")
        return core::fail(core::Errc::invalid_argument,
                          fmt::format("{}: expected one value, not a list (from {})", key, where(file, node)));
      std::size_t n = 0;
      for (const toml::node& item : *list) {
        ++n;
        const auto* endpoint = item.as_table();
        if (!endpoint)
          return core::fail(core::Errc::invalid_argument,
                            fmt::format("webhooks: expected [[webhooks]] tables (from {})", where(file, item)));
        auto fields = table_fields(*endpoint, key, file);
        if (!fields) return std::unexpected(fields.error());
        if (auto r = builder.add_webhook(*fields, fmt::format("[[webhooks]] #{} in {}", n, where(file, item))); !r)
          return r;
      }
      continue;
    }
    auto text = scalar_text(node);
    if (!text)
      return core::fail(core::Errc::invalid_argument,
                        fmt::format("{}: expected a string, a number or true/false (from {})", key, where(file, node)));
    if (auto r = builder.set(key, *text, fmt::format("config file '{}'", file)); !r) return r;
  }
  return core::ok();
}

}  // namespace

core::Result<core::Config> load_config(const ConfigSources& sources) {
  core::ConfigBuilder builder;
  if (sources.file) {
    std::ifstream in(*sources.file, std::ios::binary);
    if (!in) return core::fail(core::Errc::invalid_argument, fmt::format("cannot read config file '{}'", *sources.file));
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (auto checked = check_text(text, *sources.file); !checked) return std::unexpected(checked.error());
    toml::table table;
    try {
      table = toml::parse(text, *sources.file);
    } catch (const toml::parse_error& e) {
      return core::fail(core::Errc::invalid_argument,
                        fmt::format("config file '{}' line {} column {}: {}", *sources.file, e.source().begin.line,
                                    e.source().begin.column, e.description()));
    }
    if (auto r = read_table(table, "", *sources.file, builder); !r) return std::unexpected(r.error());
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
