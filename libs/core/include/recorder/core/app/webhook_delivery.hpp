#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "recorder/core/domain/webhook.hpp"
#include "recorder/core/ports/clock.hpp"
#include "recorder/core/ports/id_generator.hpp"
#include "recorder/core/ports/operator_log.hpp"
#include "recorder/core/ports/outbox.hpp"
#include "recorder/core/ports/webhook_sender.hpp"

namespace recorder::core {

// How an endpoint is doing (GET /api/webhooks, metrics).
struct WebhookHealth {
  WebhookEndpoint endpoint;
  bool enabled = true;
  std::string disabled_reason;          // why it stopped (it answered 410)
  std::optional<WallTime> last_success;
  std::optional<WallTime> last_failure;
  int last_status = 0;                  // of the last failed attempt; 0: no answer
  std::string last_error;
  std::uint64_t delivered = 0;          // since start
  std::uint64_t failed_attempts = 0;    // since start
  std::uint64_t gave_up = 0;            // since start; each is also an alert in the outbox
  std::uint64_t suppressed = 0;         // repeated alerts not sent again (policy.suppress_repeats)
  unsigned retrying_attempts = 0;       // failed attempts of the notice it waits to deliver
  std::optional<WallTime> next_attempt_at;
  std::optional<std::uint64_t> pending;  // notices not yet delivered (the outbox's count; not known here)
  std::string source = "config";         // where it was made: "config" (the file) or "api" (POST /api/webhooks)
};

// What a delivery works through; each must outlive it.
struct DeliveryPorts {
  OutboxStore& outbox;
  WebhookSender& sender;
  OperatorLog& log;
  const Clock& clock;
  IdGenerator& ids;  // for the alerts it raises
};

// Delivers the outbox to one webhook endpoint (docs/protocol.md section 7): every notice it
// subscribed to, in the outbox's order, at least once, across restarts (the outbox keeps
// what was delivered under the subscriber "webhook:<name>"). A failed attempt is retried
// after the policy's next delay (or the answer's Retry-After); the notice after it waits, so
// the endpoint sees notices in order. After the last retry the delivery gives up: it is
// counted, an alert goes to the outbox, and the next notice follows. A 410 disables the
// endpoint until restart; its notices stay in the outbox. One thread per endpoint calls
// run_once(), so a slow endpoint delays only itself.
class WebhookDelivery {
 public:
  WebhookDelivery(WebhookEndpoint endpoint, DeliveryPolicy policy, const DeliveryPorts& ports, std::size_t batch = 64,
                  Duration mark_every = std::chrono::milliseconds(100));

  // The outbox subscriber's name: "webhook:<name>", "slack" or "email".
  const std::string& subscriber() const { return subscriber_; }
  // What it delivers to; fixed for its life, so any thread may read it.
  const WebhookEndpoint& endpoint() const { return endpoint_; }

  // Delivers what is due. Returns when it wants to run again: at once (more is waiting),
  // at a retry's time, or nothing (when woken by a new notice, or a periodic pass).
  std::optional<MonoTime> run_once();
  // Registers its place in the outbox now, so that it gets every notice committed from
  // here on, whether or not this instance delivers yet (a cluster's follower). run_once()
  // does it too when the store was down at start-up.
  Result<void> subscribe();

  WebhookHealth health() const;

 private:
  void note_failure(const WebhookAttempt& a);
  std::string describe(const WebhookAttempt& a) const;
  Duration delay_for(const OutboxEntry& entry, unsigned attempt, const WebhookAttempt& a) const;
  // An alert about this endpoint to the outbox (it is not offered back to this endpoint).
  void raise(Severity severity, std::string message, std::optional<RecordingId> recording);

  WebhookEndpoint endpoint_;
  DeliveryPolicy policy_;
  DeliveryPorts ports_;
  std::size_t batch_;
  Duration mark_every_;
  std::string subscriber_;
  std::mutex subscribe_mutex_;
  bool subscribed_ = false;
  std::string store_problem_;  // logged once until it clears

  // Alerts sent lately (recording, cause, message -> when), for policy.suppress_repeats.
  bool repeated(const Alert& alert, MonoTime now);
  std::map<std::string, MonoTime> recent_alerts_;
  std::uint64_t suppressed_ = 0;

  // The notice being retried (its outbox seq), and when.
  std::optional<std::uint64_t> retrying_seq_;
  unsigned attempts_ = 0;
  MonoTime next_attempt_{};

  mutable std::mutex health_mutex_;
  WebhookHealth health_;
};

}  // namespace recorder::core
