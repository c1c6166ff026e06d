#pragma once

// What the SQL stores share: the schema and its migrations, and the mapping between a
// Recording and a row of plain values. The SQLite and Postgres adapters only bind and
// read these values, so both store exactly the same thing.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "recorder/core/domain/error.hpp"
#include "recorder/core/ports/outbox.hpp"
#include "recorder/core/ports/recording_repository.hpp"

namespace recorder::adapters::store_common {

enum class Dialect { sqlite, postgres };
enum class ColumnType { integer, real, text };

struct Column {
  std::string_view name;
  ColumnType type;
};

// One SQL value: NULL, an integer, a real or a text.
using Value = std::variant<std::monostate, std::int64_t, double, std::string>;
using Row = std::vector<Value>;

struct Migration {
  int version;
  std::string_view description;
  std::string_view sqlite;
  std::string_view postgres;
};

std::span<const Migration> migrations();

std::span<const Column> recording_columns();
std::span<const Column> event_columns();

Row to_row(const core::Recording& r);
core::Result<core::Recording> from_row(const Row& row);
Row to_row(const core::RecordingEvent& e);
core::Result<core::RecordingEvent> event_from_row(const Row& row);

// Placeholders are ?1.. for SQLite and $1.. for Postgres.
std::string upsert_recording_sql(Dialect d);
std::string insert_event_sql(Dialect d);
std::string select_recordings_sql();  // "SELECT <columns> FROM recordings" (add WHERE ...)
std::string select_events_sql();      // "SELECT <columns> FROM recording_events"
std::string placeholder(Dialect d, int n);

// SQL for a list query: the WHERE/ORDER/LIMIT clause and its parameters.
struct Query {
  std::string sql;
  Row params;
};
Query list_query(Dialect d, const core::RecordingQuery& q);
Query unfinished_query(Dialect d);
Query agent_key_query(Dialect d, const std::string& key);

// The outbox (migration 2): a notice as a row of id, type, recording_id, at and a JSON
// payload (a recording notice carries the recording's row as an object).
std::span<const Column> outbox_columns();  // seq first, as undelivered_sql() selects them
Row to_row(const core::NoticeBody& n);      // without seq: the columns after it
core::Result<core::OutboxEntry> outbox_from_row(const Row& row);
core::Result<std::vector<core::OutboxEntry>> outbox_from_rows(std::span<const Row> rows);  // the first error, else all
std::string insert_notice_sql(Dialect d);  // a notice saved twice (a retried commit) is kept once
std::string add_subscriber_sql(Dialect d);  // ?1 name
std::string undelivered_sql(Dialect d);     // ?1 subscriber, ?2 limit
std::string mark_delivered_sql(Dialect d);  // ?1 subscriber, ?2 seq, ?3 delivered_at (micros)
std::string latest_sql(Dialect d);          // ?1 type prefix, ?2 limit; newest first
std::string pending_sql(Dialect d);         // ?1 subscriber; one row, one count

// Microseconds since the epoch, the stored form of times.
std::int64_t to_micros(core::WallTime t);
core::WallTime from_micros(std::int64_t us);

}  // namespace recorder::adapters::store_common
