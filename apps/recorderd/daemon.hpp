#pragma once

#include "recorder/core/app/config.hpp"

namespace recorder::app {

// Wires the adapters into the core, recovers what the store holds unfinished, and runs
// until SIGTERM or SIGINT (which the caller has blocked). Returns the exit code.
int run_daemon(const core::Config& config);

}  // namespace recorder::app
