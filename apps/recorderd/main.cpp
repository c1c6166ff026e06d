// recorderd — the recording-session server. This is the composition root: it reads the
// configuration, wires adapters into the core and runs until SIGTERM or SIGINT.

#include <sys/resource.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "config_loader.hpp"
#include "daemon.hpp"
#include "recorder/adapters/system/log.hpp"
#include "recorder/core/app/config.hpp"
#include "recorder/core/domain/state_machine.hpp"
#include "version.hpp"

namespace {

using recorder::adapters::system::log;
using recorder::adapters::system::LogLevel;

int print_effective(const recorder::core::Config& config) {
  for (const auto& key : recorder::core::config_keys()) {
    const std::string value = key.get(config);
    // Secrets are not printed: only whether one is set.
    const bool secret = key.name.ends_with("password") || key.name.ends_with("secret");
    fmt::print("{} = {}\n", key.name, secret && !value.empty() ? std::string("(set, not shown)") : value);
  }
  // Endpoints without their secrets, which are not printed.
  for (const auto& w : config.webhooks)
    fmt::print("webhooks.{} = {} (events: {}; {} secret{})\n", w.name, w.url,
               w.events.empty() ? std::string("*") : fmt::format("{}", fmt::join(w.events, ",")), w.secrets.size(),
               w.secrets.size() == 1 ? "" : "s");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"recorderd: the recording-session server that never loses a recording"};
  recorder::app::ConfigSources sources;
  std::string config_file;
  std::string listen;
  std::string data_dir;
  std::vector<std::string> sets;
  bool check_only = false;
  bool list_keys = false;
  bool list_transitions = false;
  bool version = false;
  cli.add_option("-c,--config", config_file, "TOML config file ([section] key = value)");
  cli.add_option("-l,--listen", listen, "host:port to listen on (server.listen)");
  cli.add_option("-d,--data-dir", data_dir, "data directory (server.data_dir)");
  cli.add_option("-s,--set", sets, "KEY=VALUE: set any configuration key; repeatable");
  cli.add_flag("--check-config", check_only, "validate the configuration, print it and exit");
  cli.add_flag("--list-keys", list_keys, "print every configuration key as a Markdown table and exit");
  cli.add_flag("--list-transitions", list_transitions,
               "print the recording state machine's transition table as Markdown and exit");
  cli.add_flag("-V,--version", version, "print the version and exit");
  cli.footer("Settings: defaults < config file < environment (RECORDER_*) < flags.\n"
             "Every key is listed in docs/operations.md and by --check-config.");
  CLI11_PARSE(cli, argc, argv);

  if (version) {
    fmt::print("recorderd {}\n", RECORDERD_VERSION);
    return 0;
  }
  if (list_transitions) {
    fmt::print("{}", recorder::core::transition_table_markdown());
    return 0;
  }
  if (list_keys) {
    fmt::print("{}", recorder::core::config_reference_markdown());
    return 0;
  }
  if (!config_file.empty()) sources.file = config_file;
  if (!listen.empty()) sources.flags.emplace_back("server.listen", listen);
  if (!data_dir.empty()) sources.flags.emplace_back("server.data_dir", data_dir);
  for (const std::string& s : sets) {
    const auto eq = s.find('=');
    if (eq == std::string::npos || eq == 0) {
      log(LogLevel::error, "msg=\"invalid --set '{}': expected KEY=VALUE\"", s);
      return 2;
    }
    sources.flags.emplace_back(s.substr(0, eq), s.substr(eq + 1));
  }
  sources.environment = recorder::app::current_environment();

  auto config = recorder::app::load_config(sources);
  if (!config) {
    log(LogLevel::error, "msg=\"invalid configuration: {}\"", config.error().message);
    return 2;
  }
  if (check_only) return print_effective(*config);

  recorder::adapters::system::set_log_level(config->log_level);

  // A server's descriptors: the soft limit (often 1024) up to the hard one. The listener's
  // connection cap (server.max_connections) is taken from it.
  if (rlimit files{}; ::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &files);
  }

  // Block the stop signals before any thread exists; run_daemon waits for one of them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  return recorder::app::run_daemon(*config);
}
