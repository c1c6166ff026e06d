// recctl — the admin CLI. It talks to recorderd over its HTTP API only; the commands
// arrive with that API (status, list, show, start, stop, delete, url, storage, events).

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "version.hpp"

int main(int argc, char** argv) {
  CLI::App cli{"recctl: administer a recorderd server over its HTTP API"};
  bool version = false;
  cli.add_flag("-V,--version", version, "print the version and exit");
  cli.footer("No commands yet: they need recorderd's REST API, which is not served yet.");
  CLI11_PARSE(cli, argc, argv);
  if (version) {
    fmt::print("recctl {}\n", RECORDERD_VERSION);
    return 0;
  }
  fmt::print("{}", cli.help());
  return 0;
}
