#include "recorder/core/app/outbox_dispatcher.hpp"

#include <fmt/format.h>

namespace recorder::core {

OutboxDispatcher::OutboxDispatcher(OutboxStore& store, OperatorLog& log, std::size_t batch)
    : store_(store), log_(log), batch_(batch == 0 ? 1 : batch) {}

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
    bool stopped = false;
    for (const OutboxEntry& entry : *pending) {
      if (auto delivered = e.subscriber->deliver(entry); !delivered) {
        // Nothing after it goes first: the subscriber sees the outbox in order.
        failed(e, fmt::format("notice {} ({}) not taken: {}", notice_id(entry.body), notice_type(entry.body),
                              delivered.error().message));
        stopped = true;
        break;
      }
      taken.push_back(entry.seq);
    }
    if (!taken.empty()) {
      if (auto marked = store_.mark_delivered(e.subscriber->name(), taken); !marked) {
        // Delivered but not marked: offered again later (at least once).
        failed(e, fmt::format("cannot mark {} notices delivered: {}", taken.size(), marked.error().message));
        pass.more = true;
        continue;
      }
      pass.delivered += taken.size();
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
