#pragma once

#include <string>

#include "recorder/core/domain/error.hpp"
#include "recorder/core/domain/types.hpp"

namespace recorder::core {

// Inbound webhooks already taken (POST /api/hooks/recordings), by their webhook-id, so that
// a repeat changes nothing (the same database as the recordings). Any thread; may block.
class HookReceipts {
 public:
  virtual ~HookReceipts() = default;
  // True when `webhook_id` was taken before.
  [[nodiscard]] virtual Result<bool> hook_taken(const std::string& webhook_id) = 0;
  // Records it; recording the same id again is not an error and changes nothing.
  [[nodiscard]] virtual Result<void> take_hook(const std::string& webhook_id, const std::string& type,
                                               const std::string& recording_id, WallTime at) = 0;
};

}  // namespace recorder::core
