#pragma once

#include <optional>
#include <string>

#include "recorder/core/domain/types.hpp"
#include "recorder/core/domain/webhook.hpp"
#include "recorder/core/ports/outbox.hpp"

namespace recorder::core {

// What one delivery attempt got back.
struct WebhookAttempt {
  int status = 0;                       // the HTTP status; 0 when no answer came
  std::optional<Duration> retry_after;  // the answer's Retry-After, when it had one
  std::string error;                    // why no answer came, or what a non-2xx answer said

  bool succeeded() const { return status >= 200 && status < 300; }
};

// Posts one notice to one endpoint as a signed Standard Webhooks request (the payload, the
// headers and the signature are the adapter's). Blocks for at most the delivery timeout.
// Each endpoint's deliveries come from one thread; different endpoints' from different
// threads at once.
class WebhookSender {
 public:
  virtual ~WebhookSender() = default;
  virtual WebhookAttempt send(const WebhookEndpoint& endpoint, const OutboxEntry& entry) = 0;
  // Whether this notice is for this channel at all beyond its event types (an e-mail needs
  // a recipient); one that is not is passed over, not retried.
  virtual bool applies(const WebhookEndpoint& /*endpoint*/, const OutboxEntry& /*entry*/) const { return true; }
};

}  // namespace recorder::core
