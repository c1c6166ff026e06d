#pragma once

#include <functional>
#include <memory>
#include <string>

#include "recorder/adapters/postgres/postgres_repository.hpp"

namespace recorder::adapters::postgres {

// LISTEN on one channel, on a connection of its own and a thread of its own; each payload
// goes to `on_payload`. A notification is a wake-up, never the truth: whenever the
// connection is new (the first, one made after a break, or one libpqxx reconnected by
// itself: the backend's pid changed) `on_connected` runs, for the caller to re-read what it
// may have missed meanwhile. A broken connection is made again after the back-off.
class PostgresListener {
 public:
  PostgresListener(std::string url, std::string channel, std::function<void(const std::string& payload)> on_payload,
                   std::function<void()> on_connected, Reconnect reconnect = {});
  ~PostgresListener();  // stops
  PostgresListener(const PostgresListener&) = delete;
  PostgresListener& operator=(const PostgresListener&) = delete;

  void start();
  void stop();
  // The backend process serving the listener now; 0 while it is not connected.
  int backend_pid() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace recorder::adapters::postgres
