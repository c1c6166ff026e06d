#pragma once

#include "recorder/core/ports/notice_subscriber.hpp"
#include "recorder/core/ports/operator_log.hpp"

namespace recorder::adapters::system {

// The outbox's first durable subscriber: one logfmt line per notice (a recording's
// transition, a storage level, an alert), each with its notice id, so that a line repeated
// after a crash can be told from a new one.
class LogNoticeSubscriber final : public core::NoticeSubscriber {
 public:
  // Port
  std::string_view name() const override { return "log"; }
  core::Result<void> deliver(const core::OutboxEntry& entry) override;
};

// The daemon's own log for what must be said at once (a save that failed, a background
// error), whether or not the store can hold it yet.
class LogOperatorLog final : public core::OperatorLog {
 public:
  // Port
  void write(core::Severity severity, std::string_view message) override;
};

}  // namespace recorder::adapters::system
