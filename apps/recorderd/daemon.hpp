#pragma once

#include <cstdint>
#include <memory>

#include "recorder/core/app/config.hpp"
#include "recorder/core/app/recording_service.hpp"

namespace recorder::app {

// The composition root as an object: the adapters wired into the core, recovery done,
// the listener serving. recorderd runs one; the daemon tests run it in-process.
class Daemon {
 public:
  // Opens the stores, recovers unfinished recordings, starts the deadline thread and the
  // listener. The error names what could not be started.
  static core::Result<std::unique_ptr<Daemon>> start(const core::Config& config);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  std::uint16_t port() const;  // the port actually bound (server.listen may say 0)
  const core::RecoveryReport& recovery() const;
  core::RecordingService& service();

  // Graceful stop: the listener closes every connection with a close frame, captures
  // stop, live streams stay resumable in the store, held-back rows are written.
  void stop();

 private:
  struct Impl;
  explicit Daemon(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// recorderd's main loop: starts a Daemon, waits for SIGTERM or SIGINT (which the caller
// has blocked), stops it. Returns the exit code.
int run_daemon(const core::Config& config);

}  // namespace recorder::app
