#include "recorder/core/app/outbox_dispatcher.hpp"

#include <fmt/format.h>

namespace recorder::core {

OutboxDispatcher::OutboxDispatcher(OutboxStore& store, OperatorLog& log, const Clock& clock, std::size_t batch,
                                   Duration mark_every)
    : store_(store), log_(log), clock_(clock), batch_(batch == 0 ? 1 : batch), mark_every_(mark_every) {}

Result<void> OutboxDispatcher::add(NoticeSubscriber& subscriber) {
  if (auto added = store_.add_subscriber(subscriber.name()); !added) return added;
  std::lock_guard lock(mutex_);
  subscribers_.push_back(Entry{&subscriber, {}});
  return ok();
}

void OutboxDispatcher::failed(Entry& e, const std::string& what) {
  if (e.failing == what) return;
  e.failing = what;
  log_.write(Severity::warning, fmt::format("outbox: subscriber {}: {}; its notices are kept and offered again",
                                            e.subscriber->name(), what));
}

OutboxDispatcher::Pass OutboxDispatcher::run_once() {
  std::lock_guard lock(mutex_);
  Pass pass;
  for (Entry& e : subscribers_) {
    auto pending = store_.undelivered(e.subscriber->name(), batch_);
    if (!pending) {
      failed(e, fmt::format("cannot read the outbox: {}", pending.error().message));
      pass.more = true;
      continue;
    }
    std::vector<std::uint64_t> taken;
    MonoTime last_mark = clock_.monotonic_now();
    // Marks what was taken since the last mark; false when the store would not.
    const auto mark = [&] {
      if (taken.empty()) return true;
      if (auto marked = store_.mark_delivered(e.subscriber->name(), taken); !marked) {
        // Delivered but not marked: offered again later (at least once).
        failed(e, fmt::format("cannot mark {} notices delivered: {}", taken.size(), marked.error().message));
        return false;
      }
      pass.delivered += taken.size();
      taken.clear();
      last_mark = clock_.monotonic_now();
      return true;
    };
    bool stopped = false;
    bool unmarked = false;
    for (const OutboxEntry& entry : *pending) {
      if (auto delivered = e.subscriber->deliver(entry); !delivered) {
        // Nothing after it goes first: the subscriber sees the outbox in order.
        failed(e, fmt::format("notice {} ({}) not taken: {}", notice_id(entry.body), notice_type(entry.body),
                              delivered.error().message));
        stopped = true;
        break;
      }
      taken.push_back(entry.seq);
      if (clock_.monotonic_now() - last_mark >= mark_every_ && !mark()) {
        unmarked = true;
        break;
      }
    }
    if (unmarked || !mark()) {
      pass.more = true;
      continue;
    }
    if (!stopped && !e.failing.empty()) {
      log_.write(Severity::info, fmt::format("outbox: subscriber {} takes notices again", e.subscriber->name()));
      e.failing.clear();
    }
    if (stopped || pending->size() == batch_) pass.more = true;
  }
  return pass;
}

}  // namespace recorder::core
