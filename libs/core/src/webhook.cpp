#include "recorder/core/domain/webhook.hpp"

#include <algorithm>

namespace recorder::core {

bool wants(const WebhookEndpoint& endpoint, std::string_view type) {
  if (endpoint.events.empty()) return true;
  return std::ranges::any_of(endpoint.events, [&](const std::string& e) {
    if (e == "*" || e == type) return true;
    // "recording.*" takes every recording notice.
    return e.size() >= 2 && e.ends_with(".*") && type.starts_with(std::string_view(e).substr(0, e.size() - 1));
  });
}

std::string subscriber_of(const WebhookEndpoint& endpoint) {
  switch (endpoint.kind) {
    case ChannelKind::webhook: return "webhook:" + endpoint.name;
    case ChannelKind::slack: return "slack";
    case ChannelKind::email: return "email";
    case ChannelKind::command: return "hook:" + endpoint.name;
  }
  return endpoint.name;
}

}  // namespace recorder::core
