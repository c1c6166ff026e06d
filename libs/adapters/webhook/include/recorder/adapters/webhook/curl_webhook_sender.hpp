#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string>

#include "recorder/core/ports/clock.hpp"
#include "recorder/core/ports/webhook_sender.hpp"

namespace recorder::adapters::webhook {

// Posts notices with libcurl's easy interface: one blocking request at a time per calling
// thread (the daemon gives each endpoint its own thread; ADR 0014). Each attempt is signed
// afresh with the current time; `payload` makes the JSON body ({"type", "timestamp",
// "data"}) of a notice. No redirects are followed; the whole request, connection included,
// must finish within `timeout`.
class CurlWebhookSender final : public core::WebhookSender {
 public:
  using Payload = std::function<std::string(const core::OutboxEntry&)>;
  CurlWebhookSender(Payload payload, const core::Clock& clock, std::chrono::milliseconds timeout,
                    std::string user_agent);

  core::WebhookAttempt send(const core::WebhookEndpoint& endpoint, const core::OutboxEntry& entry) override;

  // Ends requests under way (they fail, and are retried after the next start) and refuses
  // new ones: for shutdown. Any thread.
  void cancel() { cancelled_ = true; }

 private:
  std::atomic<bool> cancelled_{false};
  Payload payload_;
  const core::Clock& clock_;
  std::chrono::milliseconds timeout_;
  std::string user_agent_;
};

}  // namespace recorder::adapters::webhook
