#pragma once

#include "recorder/core/ports/outbox.hpp"

namespace recorder::core {

// Live fan-out of notices inside this process (dialect sessions waiting for their
// recording, and the outbox dispatcher, which it wakes). Called only after the notice is
// committed to the store, in commit order per recording, with no lock held that spans
// recordings. Must queue and return at once; it must not call back into the service.
// Durable delivery (the log, webhooks) is OutboxDispatcher's, not this port's.
class EventPublisher {
 public:
  virtual ~EventPublisher() = default;
  virtual void publish(const NoticeBody& notice) = 0;
};

}  // namespace recorder::core
