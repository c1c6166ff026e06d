#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "recorder/core/domain/error.hpp"
#include "recorder/core/domain/recording.hpp"
#include "recorder/core/domain/state_machine.hpp"
#include "recorder/core/domain/storage_policy.hpp"

namespace recorder::core {

// Something happened to a recording; carries a snapshot of it after the change.
struct RecordingNotice {
  std::string id;  // unique, given before it is saved; receivers use it to drop repeats
  WallTime at;
  Notice notice;
  Recording recording;

  bool operator==(const RecordingNotice&) const = default;
};

// The disk crossed a threshold (seed 003's warn / block), either way.
struct StorageNotice {
  std::string id;
  WallTime at;
  StorageLevel level;
  double used_percent;

  bool operator==(const StorageNotice&) const = default;
};

// Something a person must be told (seed 000: premature stop, stale, failed start, ...).
struct Alert {
  std::string id;
  WallTime at;
  Severity severity;
  std::string message;
  std::optional<RecordingId> recording_id;
  std::string cause;  // what raised it: "recording", "store", "storage", "background", "webhook:<name>"

  bool operator==(const Alert&) const = default;
};

// A recorder agent connected or went away (agent.connected / agent.disconnected).
struct AgentNotice {
  std::string id;
  WallTime at;
  std::string agent_id;
  bool connected = true;
  std::string detail;  // where from, or why it went

  bool operator==(const AgentNotice&) const = default;
};

// What the outbox holds: every notice webhooks, alerts, the dashboard and the log carry.
using NoticeBody = std::variant<RecordingNotice, StorageNotice, Alert, AgentNotice>;

const std::string& notice_id(const NoticeBody& n);
WallTime notice_time(const NoticeBody& n);
// "recording.ready", "storage.warning", "alert.critical", ...
std::string notice_type(const NoticeBody& n);

// A notice as the store holds it, with its place in the outbox's order.
struct OutboxEntry {
  std::uint64_t seq = 0;  // ascending in commit order of the store
  NoticeBody body;

  bool operator==(const OutboxEntry&) const = default;
};

// The durable outbox. A notice caused by a recording's change is written by
// RecordingRepository::save in the same transaction as that change; this port holds the
// rest and the bookkeeping of who has been handed what. Failures are values
// (Errc::unavailable while the database is down). Any thread; may block on I/O.
class OutboxStore {
 public:
  virtual ~OutboxStore() = default;
  // Appends notices that belong to no recording's change (storage levels, alerts), in one
  // transaction.
  [[nodiscard]] virtual Result<void> append(std::span<const NoticeBody> notices) = 0;
  // Makes `subscriber` known. A new subscriber is handed notices saved from now on, not
  // the history; a known one keeps what it has not been handed yet.
  [[nodiscard]] virtual Result<void> add_subscriber(std::string_view subscriber) = 0;
  // Notices not yet delivered to `subscriber`, oldest first, at most `limit`. A notice
  // whose transaction commits late (Postgres) is still found: nothing is skipped by order.
  [[nodiscard]] virtual Result<std::vector<OutboxEntry>> undelivered(std::string_view subscriber,
                                                                     std::size_t limit) = 0;
  // Marks notices delivered to `subscriber`, in one transaction.
  [[nodiscard]] virtual Result<void> mark_delivered(std::string_view subscriber,
                                                    std::span<const std::uint64_t> seqs) = 0;
  // How many notices `subscriber` has not been handed yet (metrics).
  [[nodiscard]] virtual Result<std::uint64_t> pending(std::string_view subscriber) = 0;
  // The newest notices whose type starts with `type_prefix` ("alert."), newest first, at
  // most `limit`: what the dashboard shows of the past when it opens.
  [[nodiscard]] virtual Result<std::vector<OutboxEntry>> latest(std::string_view type_prefix, std::size_t limit) = 0;
};

}  // namespace recorder::core
