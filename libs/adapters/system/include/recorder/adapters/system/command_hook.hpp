#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "recorder/core/ports/webhook_sender.hpp"

namespace recorder::adapters::system {

// Seed 002's processing hook (hooks.on_ready): runs the endpoint's `url` as a program (no
// shell) with the recording's files as arguments and `stdin_text` of the notice on its
// standard input, in its own process group. Exit 0 within `timeout` delivers; another exit
// status, a signal or the timeout (the group is killed) is a failed attempt whose error
// says which, with the end of its standard error. Its standard output is discarded.
class CommandHookSender final : public core::WebhookSender {
 public:
  struct Writers {
    std::function<std::string(const core::OutboxEntry&)> stdin_text;                // the notice as JSON
    std::function<std::vector<std::string>(const core::OutboxEntry&)> arguments;   // absolute file paths
  };
  CommandHookSender(Writers writers, std::chrono::milliseconds timeout);

  core::WebhookAttempt send(const core::WebhookEndpoint& endpoint, const core::OutboxEntry& entry) override;

  // Kills a command under way (the attempt fails and is repeated after the next start).
  void cancel() { cancelled_ = true; }

 private:
  Writers writers_;
  std::chrono::milliseconds timeout_;
  std::atomic<bool> cancelled_{false};
};

}  // namespace recorder::adapters::system
