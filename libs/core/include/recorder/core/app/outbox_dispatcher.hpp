#pragma once

#include <cstddef>
#include <mutex>
#include <string>
#include <vector>

#include "recorder/core/ports/clock.hpp"
#include "recorder/core/ports/notice_subscriber.hpp"
#include "recorder/core/ports/operator_log.hpp"
#include "recorder/core/ports/outbox.hpp"

namespace recorder::core {

// Hands the outbox's notices to its durable subscribers: each subscriber gets every
// notice saved since it was first added, in the outbox's order, at least once, across
// restarts. A notice is marked delivered per subscriber once that subscriber took it; a
// subscriber that fails is offered the same notice again at the next run, and the others
// go on meanwhile. The caller owns the thread: it calls run_once() when woken (a notice was
// committed) and periodically (the store is the truth; a wake-up may be lost).
//
// Marks are written once per batch, and also whenever `mark_every` has passed since the
// last one while a slow subscriber works through a batch: a crash repeats at most about
// that much of one subscriber's deliveries, however slow it is.
class OutboxDispatcher {
 public:
  OutboxDispatcher(OutboxStore& store, OperatorLog& log, const Clock& clock, std::size_t batch = 256,
                   Duration mark_every = std::chrono::milliseconds(100));

  // Registers `subscriber` (it must outlive the dispatcher). Errc::unavailable when the
  // store cannot be reached: call again.
  [[nodiscard]] Result<void> add(NoticeSubscriber& subscriber);

  struct Pass {
    std::size_t delivered = 0;  // notices handed over and marked in this pass
    bool more = false;          // a batch was full, or a subscriber failed: run again soon
  };
  // One pass over every subscriber. Not reentrant: one thread calls it.
  Pass run_once();

 private:
  struct Entry {
    NoticeSubscriber* subscriber;
    std::string failing;  // the last failure, logged once until it clears
  };
  void failed(Entry& e, const std::string& what);

  OutboxStore& store_;
  OperatorLog& log_;
  const Clock& clock_;
  std::size_t batch_;
  Duration mark_every_;
  std::mutex mutex_;
  std::vector<Entry> subscribers_;
};

}  // namespace recorder::core
