#include "recorder/adapters/sqlite/sqlite_repository.hpp"

#include <sqlite3.h>

#include <array>

#include <fmt/format.h>

#include "recorder/adapters/store_common/recording_rows.hpp"
#include "recorder/adapters/store_common/token_rows.hpp"

namespace recorder::adapters::sqlite {
namespace {

using core::Errc;
using core::Result;
namespace sc = store_common;

std::unexpected<core::Error> db_error(sqlite3* db, std::string_view what) {
  const int code = sqlite3_extended_errcode(db);
  const Errc errc = (code & 0xff) == SQLITE_FULL ? Errc::storage_full
                    : (code & 0xff) == SQLITE_BUSY || (code & 0xff) == SQLITE_LOCKED ? Errc::unavailable
                    : (code & 0xff) == SQLITE_IOERR ? Errc::io_error
                                                    : Errc::internal;
  return core::fail(errc, fmt::format("database: {}: {}", what, sqlite3_errmsg(db)));
}

// One prepared statement, finalized on scope exit.
class Statement {
 public:
  Statement(sqlite3* db, const std::string& sql) : db_(db) {
    rc_ = sqlite3_prepare_v2(db, sql.c_str(), static_cast<int>(sql.size()), &stmt_, nullptr);
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Result<void> bind(const sc::Row& values) {
    if (rc_ != SQLITE_OK) return db_error(db_, "prepare");
    for (std::size_t i = 0; i < values.size(); ++i) {
      const int at = static_cast<int>(i + 1);
      int rc = SQLITE_OK;
      if (const auto* n = std::get_if<std::int64_t>(&values[i])) rc = sqlite3_bind_int64(stmt_, at, *n);
      else if (const auto* d = std::get_if<double>(&values[i])) rc = sqlite3_bind_double(stmt_, at, *d);
      else if (const auto* s = std::get_if<std::string>(&values[i]))
        rc = sqlite3_bind_text(stmt_, at, s->data(), static_cast<int>(s->size()), SQLITE_TRANSIENT);
      else rc = sqlite3_bind_null(stmt_, at);
      if (rc != SQLITE_OK) return db_error(db_, "bind");
    }
    return core::ok();
  }

  Result<void> run() {
    if (rc_ != SQLITE_OK) return db_error(db_, "prepare");
    const int rc = sqlite3_step(stmt_);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) return db_error(db_, "step");
    return core::ok();
  }

  // Every result row, read with the column types given.
  Result<std::vector<sc::Row>> rows(std::span<const sc::Column> columns) {
    if (rc_ != SQLITE_OK) return db_error(db_, "prepare");
    std::vector<sc::Row> out;
    for (;;) {
      const int rc = sqlite3_step(stmt_);
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) return db_error(db_, "step");
      sc::Row row;
      row.reserve(columns.size());
      for (std::size_t i = 0; i < columns.size(); ++i) {
        const int at = static_cast<int>(i);
        if (sqlite3_column_type(stmt_, at) == SQLITE_NULL) {
          row.emplace_back();
        } else if (columns[i].type == sc::ColumnType::integer) {
          row.emplace_back(static_cast<std::int64_t>(sqlite3_column_int64(stmt_, at)));
        } else if (columns[i].type == sc::ColumnType::real) {
          row.emplace_back(sqlite3_column_double(stmt_, at));
        } else {
          const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, at));
          row.emplace_back(std::string(text, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, at))));
        }
      }
      out.push_back(std::move(row));
    }
    return out;
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  int rc_;
};

Result<void> exec(sqlite3* db, const char* sql) {
  char* message = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    std::string text = message ? message : "unknown error";
    sqlite3_free(message);
    return core::fail(Errc::internal, fmt::format("database: {}: {}", sql, text));
  }
  return core::ok();
}

Result<std::vector<core::Recording>> recordings(sqlite3* db, const sc::Query& q) {
  Statement st(db, q.sql);
  if (auto b = st.bind(q.params); !b) return std::unexpected(b.error());
  auto rows = st.rows(sc::recording_columns());
  if (!rows) return std::unexpected(rows.error());
  std::vector<core::Recording> out;
  for (const auto& row : *rows) {
    auto r = sc::from_row(row);
    if (!r) return std::unexpected(r.error());
    out.push_back(std::move(*r));
  }
  return out;
}

Result<void> insert_notices(sqlite3* db, std::span<const core::NoticeBody> notices) {
  for (const auto& n : notices) {
    Statement insert(db, sc::insert_notice_sql(sc::Dialect::sqlite));
    if (auto b = insert.bind(sc::to_row(n)); !b) return b;
    if (auto s = insert.run(); !s) return s;
  }
  return core::ok();
}

Result<std::optional<core::Recording>> first(Result<std::vector<core::Recording>> all) {
  if (!all) return std::unexpected(all.error());
  if (all->empty()) return std::optional<core::Recording>{};
  return std::optional<core::Recording>{std::move(all->front())};
}

}  // namespace

SqliteRepository::SqliteRepository(sqlite3* db) : db_(db) {}

SqliteRepository::~SqliteRepository() { sqlite3_close_v2(db_); }

Result<std::unique_ptr<SqliteRepository>> SqliteRepository::open(const std::filesystem::path& path) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                                 nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close_v2(db);
    return core::fail(Errc::unavailable, fmt::format("cannot open database {}: {}", path.string(), message));
  }
  std::unique_ptr<SqliteRepository> repo(new SqliteRepository(db));
  sqlite3_busy_timeout(db, 5000);
  for (const char* pragma : {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA foreign_keys=ON"}) {
    if (auto r = exec(db, pragma); !r) return std::unexpected(r.error());
  }
  if (auto r = repo->migrate(); !r) return std::unexpected(r.error());
  return repo;
}

Result<void> SqliteRepository::migrate() {
  std::lock_guard lock(mutex_);
  if (auto r = exec(db_, "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                         "description TEXT NOT NULL, applied_at INTEGER NOT NULL)");
      !r)
    return r;
  for (const sc::Migration& m : sc::migrations()) {
    Statement check(db_, "SELECT version FROM schema_migrations WHERE version = ?1");
    if (auto b = check.bind({std::int64_t{m.version}}); !b) return b;
    auto rows = check.rows(std::array{sc::Column{"version", sc::ColumnType::integer}});
    if (!rows) return std::unexpected(rows.error());
    if (!rows->empty()) continue;
    if (auto r = exec(db_, "BEGIN IMMEDIATE"); !r) return r;
    auto applied = exec(db_, std::string(m.sqlite).c_str());
    if (applied) {
      Statement record(db_, "INSERT INTO schema_migrations (version, description, applied_at) VALUES (?1, ?2, "
                            "CAST(strftime('%s','now') AS INTEGER))");
      applied = record.bind({std::int64_t{m.version}, std::string(m.description)});
      if (applied) applied = record.run();
    }
    if (!applied) {
      (void)exec(db_, "ROLLBACK");
      return core::fail(applied.error().code,
                        fmt::format("migration {} ({}) failed: {}", m.version, m.description, applied.error().message));
    }
    if (auto r = exec(db_, "COMMIT"); !r) return r;
  }
  return core::ok();
}

int SqliteRepository::schema_version() {
  std::lock_guard lock(mutex_);
  Statement st(db_, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
  auto rows = st.rows(std::array{sc::Column{"version", sc::ColumnType::integer}});
  if (!rows || rows->empty()) return 0;
  return static_cast<int>(std::get<std::int64_t>(rows->front().front()));
}

Result<void> SqliteRepository::in_transaction(const std::function<Result<void>()>& work) {
  if (auto b = exec(db_, "BEGIN IMMEDIATE"); !b) return db_error(db_, "begin");
  auto done = work();
  if (!done) {
    (void)exec(db_, "ROLLBACK");  // the error that matters is `done`
    return done;
  }
  if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
    auto err = db_error(db_, "commit");
    (void)exec(db_, "ROLLBACK");
    return err;
  }
  return core::ok();
}

Result<void> SqliteRepository::save(const core::Recording& r, std::span<const core::RecordingEvent> events,
                                    std::span<const core::NoticeBody> notices) {
  std::lock_guard lock(mutex_);
  return in_transaction([&]() -> Result<void> {
    Statement upsert(db_, sc::upsert_recording_sql(sc::Dialect::sqlite));
    if (auto b = upsert.bind(sc::to_row(r)); !b) return b;
    if (auto s = upsert.run(); !s) return s;
    for (const auto& e : events) {
      Statement insert(db_, sc::insert_event_sql(sc::Dialect::sqlite));
      if (auto b = insert.bind(sc::to_row(e)); !b) return b;
      if (auto s = insert.run(); !s) return s;
    }
    return insert_notices(db_, notices);
  });
}

Result<void> SqliteRepository::ping() {
  std::lock_guard lock(mutex_);
  Statement st(db_, "SELECT 1");
  return st.run();
}

Result<void> SqliteRepository::append(std::span<const core::NoticeBody> notices) {
  std::lock_guard lock(mutex_);
  return in_transaction([&] { return insert_notices(db_, notices); });
}

Result<void> SqliteRepository::add_subscriber(std::string_view subscriber) {
  std::lock_guard lock(mutex_);
  Statement st(db_, sc::add_subscriber_sql(sc::Dialect::sqlite));
  if (auto b = st.bind({std::string(subscriber)}); !b) return b;
  return st.run();
}

Result<std::vector<core::OutboxEntry>> SqliteRepository::undelivered(std::string_view subscriber, std::size_t limit) {
  std::lock_guard lock(mutex_);
  Statement st(db_, sc::undelivered_sql(sc::Dialect::sqlite));
  if (auto b = st.bind({std::string(subscriber), static_cast<std::int64_t>(limit)}); !b) return std::unexpected(b.error());
  auto rows = st.rows(sc::outbox_columns());
  if (!rows) return std::unexpected(rows.error());
  return sc::outbox_from_rows(*rows);
}

Result<std::vector<core::OutboxEntry>> SqliteRepository::latest(std::string_view type_prefix, std::size_t limit) {
  std::lock_guard lock(mutex_);
  Statement st(db_, sc::latest_sql(sc::Dialect::sqlite));
  if (auto b = st.bind({std::string(type_prefix), static_cast<std::int64_t>(limit)}); !b) return std::unexpected(b.error());
  auto rows = st.rows(sc::outbox_columns());
  if (!rows) return std::unexpected(rows.error());
  return sc::outbox_from_rows(*rows);
}

Result<void> SqliteRepository::mark_delivered(std::string_view subscriber, std::span<const std::uint64_t> seqs) {
  std::lock_guard lock(mutex_);
  const std::int64_t now = sc::to_micros(std::chrono::system_clock::now());
  return in_transaction([&]() -> Result<void> {
    for (const auto seq : seqs) {
      Statement insert(db_, sc::mark_delivered_sql(sc::Dialect::sqlite));
      if (auto b = insert.bind({std::string(subscriber), static_cast<std::int64_t>(seq), now}); !b) return b;
      if (auto s = insert.run(); !s) return s;
    }
    return core::ok();
  });
}

Result<std::optional<core::Recording>> SqliteRepository::find(const core::RecordingId& id) {
  std::lock_guard lock(mutex_);
  return first(recordings(db_, sc::Query{sc::select_recordings_sql() + " WHERE id = ?1", {id}}));
}

Result<std::optional<core::Recording>> SqliteRepository::find_by_agent_key(const std::string& key) {
  std::lock_guard lock(mutex_);
  return first(recordings(db_, sc::agent_key_query(sc::Dialect::sqlite, key)));
}

Result<std::vector<core::Recording>> SqliteRepository::find_unfinished() {
  std::lock_guard lock(mutex_);
  return recordings(db_, sc::unfinished_query(sc::Dialect::sqlite));
}

Result<std::vector<core::Recording>> SqliteRepository::list(const core::RecordingQuery& q) {
  std::lock_guard lock(mutex_);
  return recordings(db_, sc::list_query(sc::Dialect::sqlite, q));
}

Result<std::vector<core::RecordingEvent>> SqliteRepository::events(const core::RecordingId& id) {
  std::lock_guard lock(mutex_);
  Statement st(db_, sc::select_events_sql() + " WHERE recording_id = ?1 ORDER BY seq");
  if (auto b = st.bind({id}); !b) return std::unexpected(b.error());
  auto rows = st.rows(sc::event_columns());
  if (!rows) return std::unexpected(rows.error());
  std::vector<core::RecordingEvent> out;
  for (const auto& row : *rows) {
    auto e = sc::event_from_row(row);
    if (!e) return std::unexpected(e.error());
    out.push_back(std::move(*e));
  }
  return out;
}

Result<void> SqliteRepository::add_token(const core::StoredToken& t) {
  std::lock_guard lock(mutex_);
  Statement st(db_, sc::insert_token_sql(sc::Dialect::sqlite));
  if (auto b = st.bind(sc::to_row(t)); !b) return b;
  return st.run();
}

Result<std::optional<core::StoredToken>> SqliteRepository::find_token(const std::string& id) {
  std::lock_guard lock(mutex_);
  Statement st(db_, sc::select_token_sql(sc::Dialect::sqlite));
  if (auto b = st.bind({id}); !b) return std::unexpected(b.error());
  auto rows = st.rows(sc::token_columns());
  if (!rows) return std::unexpected(rows.error());
  if (rows->empty()) return std::optional<core::StoredToken>{};
  auto t = sc::token_from_row(rows->front());
  if (!t) return std::unexpected(t.error());
  return std::optional<core::StoredToken>{std::move(*t)};
}

Result<std::vector<core::ApiToken>> SqliteRepository::tokens() {
  std::lock_guard lock(mutex_);
  Statement st(db_, sc::select_tokens_sql());
  auto rows = st.rows(sc::token_columns());
  if (!rows) return std::unexpected(rows.error());
  std::vector<core::ApiToken> out;
  for (const auto& row : *rows) {
    auto t = sc::token_from_row(row);
    if (!t) return std::unexpected(t.error());
    out.push_back(std::move(t->token));
  }
  return out;
}

Result<bool> SqliteRepository::revoke_token(const std::string& id, core::WallTime at) {
  std::lock_guard lock(mutex_);
  Statement st(db_, sc::revoke_token_sql(sc::Dialect::sqlite));
  if (auto b = st.bind({id, sc::to_micros(at)}); !b) return std::unexpected(b.error());
  auto rows = st.rows(std::array{sc::Column{"id", sc::ColumnType::text}});
  if (!rows) return std::unexpected(rows.error());
  return !rows->empty();
}

Result<void> SqliteRepository::touch_token(const std::string& id, core::WallTime at) {
  std::lock_guard lock(mutex_);
  Statement st(db_, sc::touch_token_sql(sc::Dialect::sqlite));
  if (auto b = st.bind({id, sc::to_micros(at)}); !b) return b;
  return st.run();
}

Result<bool> SqliteRepository::hook_taken(const std::string& webhook_id) {
  std::lock_guard lock(mutex_);
  Statement st(db_, sc::hook_taken_sql(sc::Dialect::sqlite));
  if (auto b = st.bind({webhook_id}); !b) return std::unexpected(b.error());
  auto rows = st.rows(std::array{sc::Column{"webhook_id", sc::ColumnType::text}});
  if (!rows) return std::unexpected(rows.error());
  return !rows->empty();
}

Result<void> SqliteRepository::take_hook(const std::string& webhook_id, const std::string& type,
                                         const std::string& recording_id, core::WallTime at) {
  std::lock_guard lock(mutex_);
  Statement st(db_, sc::take_hook_sql(sc::Dialect::sqlite));
  if (auto b = st.bind({webhook_id, type, recording_id, sc::to_micros(at)}); !b) return b;
  return st.run();
}

Result<std::vector<core::WebhookEndpoint>> SqliteRepository::webhook_endpoints() {
  std::lock_guard lock(mutex_);
  Statement st(db_, sc::select_webhook_endpoints_sql());
  const std::array columns{sc::Column{"name", sc::ColumnType::text}, sc::Column{"url", sc::ColumnType::text},
                           sc::Column{"secrets", sc::ColumnType::text}, sc::Column{"events", sc::ColumnType::text}};
  auto rows = st.rows(columns);
  if (!rows) return std::unexpected(rows.error());
  std::vector<core::WebhookEndpoint> out;
  const auto text = [](const sc::Value& v) { return std::holds_alternative<std::string>(v) ? std::get<std::string>(v) : std::string(); };
  for (const auto& row : *rows) out.push_back(sc::webhook_endpoint_from(text(row[0]), text(row[1]), text(row[2]), text(row[3])));
  return out;
}

Result<bool> SqliteRepository::add_webhook_endpoint(const core::WebhookEndpoint& e, core::WallTime at) {
  std::lock_guard lock(mutex_);
  Statement st(db_, sc::insert_webhook_endpoint_sql(sc::Dialect::sqlite));
  if (auto b = st.bind({e.name, e.url, sc::join_list(e.secrets), sc::join_list(e.events), sc::to_micros(at)}); !b)
    return std::unexpected(b.error());
  auto rows = st.rows(std::array{sc::Column{"name", sc::ColumnType::text}});
  if (!rows) return std::unexpected(rows.error());
  return !rows->empty();
}

Result<bool> SqliteRepository::remove_webhook_endpoint(const std::string& name, const std::string& subscriber) {
  std::lock_guard lock(mutex_);
  bool removed = false;
  auto done = in_transaction([&]() -> Result<void> {
    Statement st(db_, sc::delete_webhook_endpoint_sql(sc::Dialect::sqlite));
    if (auto b = st.bind({name}); !b) return b;
    auto rows = st.rows(std::array{sc::Column{"name", sc::ColumnType::text}});
    if (!rows) return std::unexpected(rows.error());
    removed = !rows->empty();
    for (const auto& sql : {sc::forget_deliveries_sql(sc::Dialect::sqlite), sc::forget_subscriber_sql(sc::Dialect::sqlite)}) {
      Statement forget(db_, sql);
      if (auto b = forget.bind({subscriber}); !b) return b;
      if (auto r = forget.run(); !r) return r;
    }
    return core::ok();
  });
  if (!done) return std::unexpected(done.error());
  return removed;
}

Result<std::uint64_t> SqliteRepository::pending(std::string_view subscriber) {
  std::lock_guard lock(mutex_);
  Statement st(db_, sc::pending_sql(sc::Dialect::sqlite));
  if (auto b = st.bind({std::string(subscriber)}); !b) return std::unexpected(b.error());
  auto rows = st.rows(std::array{sc::Column{"count", sc::ColumnType::integer}});
  if (!rows) return std::unexpected(rows.error());
  const auto* n = rows->empty() ? nullptr : std::get_if<std::int64_t>(&rows->front()[0]);
  return n ? static_cast<std::uint64_t>(*n) : 0;
}

}  // namespace recorder::adapters::sqlite
