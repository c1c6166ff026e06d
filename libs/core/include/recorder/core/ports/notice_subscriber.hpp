#pragma once

#include <string_view>

#include "recorder/core/domain/error.hpp"
#include "recorder/core/ports/outbox.hpp"

namespace recorder::core {

// A durable receiver of the outbox's notices (the log, and later webhooks, Slack, e-mail).
// OutboxDispatcher hands it every notice at least once, in the outbox's order, across
// restarts; it must tolerate a repeat (same notice id).
class NoticeSubscriber {
 public:
  virtual ~NoticeSubscriber() = default;
  // Stable across restarts: the store remembers by this name what was delivered.
  virtual std::string_view name() const = 0;
  // Takes one notice. An error means "not taken": the same notice is offered again later,
  // and nothing after it is offered before it. Called from the dispatcher's thread only;
  // may block (network), which delays only this subscriber's notices.
  [[nodiscard]] virtual Result<void> deliver(const OutboxEntry& entry) = 0;
};

}  // namespace recorder::core
