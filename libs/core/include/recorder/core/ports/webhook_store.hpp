#pragma once

#include <string>
#include <vector>

#include "recorder/core/domain/error.hpp"
#include "recorder/core/domain/types.hpp"
#include "recorder/core/domain/webhook.hpp"

namespace recorder::core {

// Webhook endpoints added over REST (POST /api/webhooks), kept in the same database as the
// recordings so that they outlive a restart; the config file's are not here. Secrets are
// stored as given: recorderd must sign with them. Any thread; may block.
class WebhookStore {
 public:
  virtual ~WebhookStore() = default;
  // Oldest first.
  [[nodiscard]] virtual Result<std::vector<WebhookEndpoint>> webhook_endpoints() = 0;
  // False when an endpoint of that name is stored already (nothing changes).
  [[nodiscard]] virtual Result<bool> add_webhook_endpoint(const WebhookEndpoint& endpoint, WallTime at) = 0;
  // False when there is none of that name. In the same transaction the outbox forgets
  // `subscriber` (what it was handed), so that an endpoint added again under the name
  // starts afresh.
  [[nodiscard]] virtual Result<bool> remove_webhook_endpoint(const std::string& name, const std::string& subscriber) = 0;
};

}  // namespace recorder::core
