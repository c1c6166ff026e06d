#include "recorder/adapters/postgres/postgres_repository.hpp"

#include <algorithm>
#include <functional>
#include <optional>

#include <fmt/format.h>
#include <pqxx/pqxx>

#include "recorder/adapters/store_common/recording_rows.hpp"
#include "recorder/adapters/store_common/token_rows.hpp"

namespace recorder::adapters::postgres {
namespace {

using core::Errc;
using core::Result;
namespace sc = store_common;
using Clock = std::chrono::steady_clock;

constexpr long kMigrationLock = 7264001;  // pg_advisory_xact_lock key for migrations

std::vector<std::optional<std::string>> params_of(const sc::Row& row) {
  std::vector<std::optional<std::string>> out;
  out.reserve(row.size());
  for (const sc::Value& v : row) {
    if (const auto* i = std::get_if<std::int64_t>(&v)) out.emplace_back(std::to_string(*i));
    else if (const auto* d = std::get_if<double>(&v)) out.emplace_back(fmt::format("{}", *d));
    else if (const auto* s = std::get_if<std::string>(&v)) out.emplace_back(*s);
    else out.emplace_back(std::nullopt);
  }
  return out;
}

pqxx::result run(pqxx::transaction_base& tx, const std::string& sql, const sc::Row& params) {
  if (params.empty()) return tx.exec(sql);
  return tx.exec_params(sql, pqxx::prepare::make_dynamic_params(params_of(params)));
}

std::vector<sc::Row> rows_of(const pqxx::result& result, std::span<const sc::Column> columns) {
  std::vector<sc::Row> out;
  out.reserve(result.size());
  for (const auto& r : result) {
    sc::Row row;
    row.reserve(columns.size());
    for (std::size_t i = 0; i < columns.size(); ++i) {
      const pqxx::field f = r[static_cast<pqxx::row::size_type>(i)];
      if (f.is_null()) row.emplace_back();
      else if (columns[i].type == sc::ColumnType::integer) row.emplace_back(f.as<std::int64_t>());
      else if (columns[i].type == sc::ColumnType::real) row.emplace_back(f.as<double>());
      else row.emplace_back(std::string(f.c_str(), f.size()));
    }
    out.push_back(std::move(row));
  }
  return out;
}

Result<std::vector<core::Recording>> recordings_of(const pqxx::result& result) {
  std::vector<core::Recording> out;
  for (const auto& row : rows_of(result, sc::recording_columns())) {
    auto r = sc::from_row(row);
    if (!r) return std::unexpected(r.error());
    out.push_back(std::move(*r));
  }
  return out;
}

constexpr std::string_view kTerminal = "('ready','failed','deleted')";

std::string columns_of(std::string_view prefix) {
  std::string out;
  for (const sc::Column& c : sc::recording_columns()) {
    if (!out.empty()) out += ", ";
    out += fmt::format("{}{}", prefix, c.name);
  }
  return out;
}

std::size_t column_number(std::string_view name) {  // 1-based, as a placeholder
  const auto columns = sc::recording_columns();
  for (std::size_t i = 0; i < columns.size(); ++i)
    if (columns[i].name == name) return i + 1;
  return 0;
}

// The shared upsert with its lease: an unfinished recording is written only by the
// instance that holds its lease under the recording's epoch (the fence); a finished one by
// anyone (a delete through any instance). $N+1 is this instance, $N+2 the lease in ms.
std::string fenced_upsert_sql() {
  const auto columns = sc::recording_columns();
  const std::size_t n = columns.size();
  std::string values;
  std::string updates;
  for (std::size_t i = 1; i <= n; ++i) values += fmt::format("{}${}", i == 1 ? "" : ", ", i);
  for (const sc::Column& c : columns) {
    if (c.name == "id") continue;
    updates += fmt::format("{0} = excluded.{0}, ", c.name);
  }
  return fmt::format(
      "INSERT INTO recordings ({0}, lease_until) VALUES ({1}, CASE WHEN ${2} IN {3} THEN NULL ELSE now() + "
      "${5}::bigint * interval '1 millisecond' END) ON CONFLICT (id) DO UPDATE SET {6}lease_until = excluded.lease_until "
      "WHERE recordings.state IN {3} OR (recordings.lease_instance = ${4} AND recordings.lease_epoch = "
      "excluded.lease_epoch) RETURNING id",
      columns_of(""), values, column_number("state"), kTerminal, n + 1, n + 2, updates);
}

std::string lease_ms(core::Duration d) { return std::to_string(d.count()); }

// A text[] literal: {"a","b"}, each element quoted.
std::string text_array(const std::vector<std::string>& items) {
  std::string out = "{";
  for (const std::string& item : items) {
    if (out.size() > 1) out += ',';
    out += '"';
    for (const char c : item) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

double seconds_of(const pqxx::field& f) { return f.is_null() ? 0.0 : f.as<double>(); }

}  // namespace

struct PostgresRepository::Impl {
  core::InstanceInfo self;  // empty id until join(): no cluster, every save as before
  std::string url;
  Reconnect policy;
  std::string upsert = fenced_upsert_sql();
  std::mutex mutex;
  std::unique_ptr<pqxx::connection> conn;
  Clock::time_point next_attempt{};
  std::chrono::milliseconds backoff{0};
  std::string last_error;

  void lost(const std::string& why) {
    conn.reset();
    backoff = backoff.count() == 0 ? policy.initial : std::min(backoff * 2, policy.max);
    next_attempt = Clock::now() + backoff;
    last_error = why;
  }

  Result<void> ensure_connected() {
    if (conn && conn->is_open()) return core::ok();
    conn.reset();
    if (Clock::now() < next_attempt)
      return core::fail(Errc::unavailable,
                        fmt::format("database unavailable ({}); next attempt in {} ms", last_error,
                                    std::chrono::duration_cast<std::chrono::milliseconds>(next_attempt - Clock::now()).count()));
    try {
      conn = std::make_unique<pqxx::connection>(url);
      migrate();
      backoff = std::chrono::milliseconds{0};
      return core::ok();
    } catch (const pqxx::broken_connection& e) {
      lost(e.what());
    } catch (const std::exception& e) {
      lost(e.what());
    }
    return core::fail(Errc::unavailable, fmt::format("database unavailable: {}", last_error));
  }

  void migrate() {
    pqxx::work tx(*conn);
    tx.exec(fmt::format("SELECT pg_advisory_xact_lock({})", kMigrationLock));
    tx.exec("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL, "
            "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())");
    for (const sc::Migration& m : sc::migrations()) {
      if (!tx.exec_params("SELECT 1 FROM schema_migrations WHERE version = $1", m.version).empty()) continue;
      tx.exec(std::string(m.postgres));
      tx.exec_params("INSERT INTO schema_migrations (version, description) VALUES ($1, $2)", m.version,
                     std::string(m.description));
    }
    tx.commit();
  }

  // In a cluster, new notices wake every instance's dispatcher (at commit).
  void notify_outbox(pqxx::work& tx, std::size_t notices) {
    if (notices > 0 && !self.id.empty()) tx.exec_params("SELECT pg_notify($1, 'outbox')", std::string(kNotifyChannel));
  }

  // Runs `work` in a transaction; a lost connection becomes Errc::unavailable.
  template <typename T>
  Result<T> with_transaction(const std::function<Result<T>(pqxx::work&)>& work) {
    std::lock_guard lock(mutex);
    if (auto c = ensure_connected(); !c) return std::unexpected(c.error());
    try {
      pqxx::work tx(*conn);
      Result<T> result = work(tx);
      if (result) tx.commit();
      return result;
    } catch (const pqxx::broken_connection& e) {
      lost(e.what());
      return core::fail(Errc::unavailable, fmt::format("database connection lost: {}", e.what()));
    } catch (const pqxx::in_doubt_error& e) {
      lost(e.what());
      return core::fail(Errc::unavailable, fmt::format("database commit in doubt: {}", e.what()));
    } catch (const pqxx::sql_error& e) {
      if (!conn->is_open()) {
        lost(e.what());
        return core::fail(Errc::unavailable, fmt::format("database connection lost: {}", e.what()));
      }
      return core::fail(Errc::internal, fmt::format("database: {} (query: {})", e.what(), e.query()));
    } catch (const std::exception& e) {
      if (!conn->is_open()) lost(e.what());
      return core::fail(conn ? Errc::internal : Errc::unavailable, fmt::format("database: {}", e.what()));
    }
  }
};

PostgresRepository::PostgresRepository(std::string url, Reconnect reconnect) : impl_(std::make_unique<Impl>()) {
  impl_->url = std::move(url);
  impl_->policy = reconnect;
}

PostgresRepository::~PostgresRepository() = default;

Result<void> PostgresRepository::connect() {
  std::lock_guard lock(impl_->mutex);
  impl_->next_attempt = {};
  return impl_->ensure_connected();
}

int PostgresRepository::schema_version() {
  auto v = impl_->with_transaction<int>([](pqxx::work& tx) -> Result<int> {
    return tx.exec("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")[0][0].as<int>();
  });
  return v.value_or(0);
}

Result<void> PostgresRepository::save(const core::Recording& r, std::span<const core::RecordingEvent> events,
                                      std::span<const core::NoticeBody> notices) {
  bool device_taken = false;
  auto saved = impl_->with_transaction<void>([&](pqxx::work& tx) -> Result<void> {
    sc::Row row = sc::to_row(r);
    row.emplace_back(impl_->self.id);
    row.emplace_back(std::int64_t{impl_->self.lease.count()});
    pqxx::result upserted;
    try {
      upserted = run(tx, impl_->upsert, row);
    } catch (const pqxx::unique_violation&) {
      // recordings_one_live_capture_per_device: another instance records from the device.
      device_taken = true;
      return core::fail(Errc::device_busy, "");
    }
    if (upserted.empty()) {
      const auto holder = tx.exec_params("SELECT lease_instance, lease_epoch FROM recordings WHERE id = $1", r.id);
      return core::fail(Errc::lease_lost,
                        fmt::format("recording {} is held by instance '{}' under lease epoch {}, not by this "
                                    "instance ('{}', which knew it under epoch {})",
                                    r.id, holder.empty() ? "" : holder[0][0].c_str(),
                                    holder.empty() ? 0 : holder[0][1].as<std::int64_t>(), impl_->self.id, r.lease.epoch),
                        r.id);
    }
    for (const auto& e : events) run(tx, sc::insert_event_sql(sc::Dialect::postgres), sc::to_row(e));
    for (const auto& n : notices) run(tx, sc::insert_notice_sql(sc::Dialect::postgres), sc::to_row(n));
    impl_->notify_outbox(tx, notices.size());
    return core::ok();
  });
  if (!device_taken) return saved;
  // The refused transaction is gone; who has the device is read in a new one.
  auto holder = impl_->with_transaction<std::pair<std::string, std::string>>(
      [&](pqxx::work& tx) -> Result<std::pair<std::string, std::string>> {
        const auto rows = tx.exec_params(
            fmt::format("SELECT id, lease_instance FROM recordings WHERE device = $1 AND kind = 'capture' AND state "
                        "NOT IN {} LIMIT 1",
                        kTerminal),
            r.meta.device);
        if (rows.empty()) return std::pair<std::string, std::string>{};
        return std::pair<std::string, std::string>{rows[0][0].c_str(), rows[0][1].c_str()};
      });
  const auto [session, instance] = holder.value_or(std::pair<std::string, std::string>{});
  return core::fail(Errc::device_busy,
                    fmt::format("device '{}' is already recording (session {}, on instance '{}')", r.meta.device,
                                session.empty() ? "?" : session, instance.empty() ? "?" : instance),
                    session);
}

Result<void> PostgresRepository::ping() {
  return impl_->with_transaction<void>([](pqxx::work& tx) -> Result<void> {
    tx.exec("SELECT 1");
    return core::ok();
  });
}

Result<void> PostgresRepository::append(std::span<const core::NoticeBody> notices) {
  return impl_->with_transaction<void>([&](pqxx::work& tx) -> Result<void> {
    for (const auto& n : notices) run(tx, sc::insert_notice_sql(sc::Dialect::postgres), sc::to_row(n));
    impl_->notify_outbox(tx, notices.size());
    return core::ok();
  });
}

Result<void> PostgresRepository::add_subscriber(std::string_view subscriber) {
  return impl_->with_transaction<void>([&](pqxx::work& tx) -> Result<void> {
    run(tx, sc::add_subscriber_sql(sc::Dialect::postgres), {std::string(subscriber)});
    return core::ok();
  });
}

Result<std::vector<core::OutboxEntry>> PostgresRepository::undelivered(std::string_view subscriber, std::size_t limit) {
  return impl_->with_transaction<std::vector<core::OutboxEntry>>(
      [&](pqxx::work& tx) -> Result<std::vector<core::OutboxEntry>> {
        const auto result = run(tx, sc::undelivered_sql(sc::Dialect::postgres),
                                {std::string(subscriber), static_cast<std::int64_t>(limit)});
        return sc::outbox_from_rows(rows_of(result, sc::outbox_columns()));
      });
}

Result<std::vector<core::OutboxEntry>> PostgresRepository::latest(std::string_view type_prefix, std::size_t limit) {
  return impl_->with_transaction<std::vector<core::OutboxEntry>>(
      [&](pqxx::work& tx) -> Result<std::vector<core::OutboxEntry>> {
        const auto result = run(tx, sc::latest_sql(sc::Dialect::postgres),
                                {std::string(type_prefix), static_cast<std::int64_t>(limit)});
        return sc::outbox_from_rows(rows_of(result, sc::outbox_columns()));
      });
}

Result<void> PostgresRepository::mark_delivered(std::string_view subscriber, std::span<const std::uint64_t> seqs) {
  const std::int64_t now = sc::to_micros(std::chrono::system_clock::now());
  return impl_->with_transaction<void>([&](pqxx::work& tx) -> Result<void> {
    for (const auto seq : seqs)
      run(tx, sc::mark_delivered_sql(sc::Dialect::postgres), {std::string(subscriber), static_cast<std::int64_t>(seq), now});
    return core::ok();
  });
}

Result<std::optional<core::Recording>> PostgresRepository::find(const core::RecordingId& id) {
  return impl_->with_transaction<std::optional<core::Recording>>(
      [&](pqxx::work& tx) -> Result<std::optional<core::Recording>> {
        auto all = recordings_of(run(tx, sc::select_recordings_sql() + " WHERE id = $1", {id}));
        if (!all) return std::unexpected(all.error());
        if (all->empty()) return std::optional<core::Recording>{};
        return std::optional<core::Recording>{std::move(all->front())};
      });
}

Result<std::optional<core::Recording>> PostgresRepository::find_by_agent_key(const std::string& key) {
  return impl_->with_transaction<std::optional<core::Recording>>(
      [&](pqxx::work& tx) -> Result<std::optional<core::Recording>> {
        const auto q = sc::agent_key_query(sc::Dialect::postgres, key);
        auto all = recordings_of(run(tx, q.sql, q.params));
        if (!all) return std::unexpected(all.error());
        if (all->empty()) return std::optional<core::Recording>{};
        return std::optional<core::Recording>{std::move(all->front())};
      });
}

Result<std::vector<core::Recording>> PostgresRepository::find_unfinished() {
  return impl_->with_transaction<std::vector<core::Recording>>([&](pqxx::work& tx) {
    const auto q = sc::unfinished_query(sc::Dialect::postgres);
    return recordings_of(run(tx, q.sql, q.params));
  });
}

Result<std::vector<core::Recording>> PostgresRepository::list(const core::RecordingQuery& query) {
  return impl_->with_transaction<std::vector<core::Recording>>([&](pqxx::work& tx) {
    const auto q = sc::list_query(sc::Dialect::postgres, query);
    return recordings_of(run(tx, q.sql, q.params));
  });
}

Result<std::vector<core::RecordingEvent>> PostgresRepository::events(const core::RecordingId& id) {
  return impl_->with_transaction<std::vector<core::RecordingEvent>>(
      [&](pqxx::work& tx) -> Result<std::vector<core::RecordingEvent>> {
        std::vector<core::RecordingEvent> out;
        for (const auto& row : rows_of(run(tx, sc::select_events_sql() + " WHERE recording_id = $1 ORDER BY seq", {id}),
                                       sc::event_columns())) {
          auto e = sc::event_from_row(row);
          if (!e) return std::unexpected(e.error());
          out.push_back(std::move(*e));
        }
        return out;
      });
}

Result<void> PostgresRepository::add_token(const core::StoredToken& t) {
  return impl_->with_transaction<void>([&](pqxx::work& tx) -> Result<void> {
    run(tx, sc::insert_token_sql(sc::Dialect::postgres), sc::to_row(t));
    return core::ok();
  });
}

Result<std::optional<core::StoredToken>> PostgresRepository::find_token(const std::string& id) {
  return impl_->with_transaction<std::optional<core::StoredToken>>(
      [&](pqxx::work& tx) -> Result<std::optional<core::StoredToken>> {
        const auto rows = rows_of(run(tx, sc::select_token_sql(sc::Dialect::postgres), {id}), sc::token_columns());
        if (rows.empty()) return std::optional<core::StoredToken>{};
        auto t = sc::token_from_row(rows.front());
        if (!t) return std::unexpected(t.error());
        return std::optional<core::StoredToken>{std::move(*t)};
      });
}

Result<std::vector<core::ApiToken>> PostgresRepository::tokens() {
  return impl_->with_transaction<std::vector<core::ApiToken>>([&](pqxx::work& tx) -> Result<std::vector<core::ApiToken>> {
    std::vector<core::ApiToken> out;
    for (const auto& row : rows_of(run(tx, sc::select_tokens_sql(), {}), sc::token_columns())) {
      auto t = sc::token_from_row(row);
      if (!t) return std::unexpected(t.error());
      out.push_back(std::move(t->token));
    }
    return out;
  });
}

Result<bool> PostgresRepository::revoke_token(const std::string& id, core::WallTime at) {
  return impl_->with_transaction<bool>([&](pqxx::work& tx) -> Result<bool> {
    return !run(tx, sc::revoke_token_sql(sc::Dialect::postgres), {id, sc::to_micros(at)}).empty();
  });
}

Result<void> PostgresRepository::touch_token(const std::string& id, core::WallTime at) {
  return impl_->with_transaction<void>([&](pqxx::work& tx) -> Result<void> {
    run(tx, sc::touch_token_sql(sc::Dialect::postgres), {id, sc::to_micros(at)});
    return core::ok();
  });
}

Result<bool> PostgresRepository::hook_taken(const std::string& webhook_id) {
  return impl_->with_transaction<bool>([&](pqxx::work& tx) -> Result<bool> {
    return !run(tx, sc::hook_taken_sql(sc::Dialect::postgres), {webhook_id}).empty();
  });
}

Result<void> PostgresRepository::take_hook(const std::string& webhook_id, const std::string& type,
                                           const std::string& recording_id, core::WallTime at) {
  return impl_->with_transaction<void>([&](pqxx::work& tx) -> Result<void> {
    run(tx, sc::take_hook_sql(sc::Dialect::postgres), {webhook_id, type, recording_id, sc::to_micros(at)});
    return core::ok();
  });
}

Result<std::vector<core::WebhookEndpoint>> PostgresRepository::webhook_endpoints() {
  return impl_->with_transaction<std::vector<core::WebhookEndpoint>>(
      [&](pqxx::work& tx) -> Result<std::vector<core::WebhookEndpoint>> {
        std::vector<core::WebhookEndpoint> out;
        for (const auto& row : run(tx, sc::select_webhook_endpoints_sql(), {}))
          out.push_back(sc::webhook_endpoint_from(row[0].as<std::string>(), row[1].as<std::string>(),
                                                  row[2].as<std::string>(), row[3].as<std::string>()));
        return out;
      });
}

Result<bool> PostgresRepository::add_webhook_endpoint(const core::WebhookEndpoint& e, core::WallTime at) {
  return impl_->with_transaction<bool>([&](pqxx::work& tx) -> Result<bool> {
    return !run(tx, sc::insert_webhook_endpoint_sql(sc::Dialect::postgres),
                {e.name, e.url, sc::join_list(e.secrets), sc::join_list(e.events), sc::to_micros(at)})
                .empty();
  });
}

Result<bool> PostgresRepository::remove_webhook_endpoint(const std::string& name, const std::string& subscriber) {
  return impl_->with_transaction<bool>([&](pqxx::work& tx) -> Result<bool> {
    const bool removed = !run(tx, sc::delete_webhook_endpoint_sql(sc::Dialect::postgres), {name}).empty();
    run(tx, sc::forget_deliveries_sql(sc::Dialect::postgres), {subscriber});
    run(tx, sc::forget_subscriber_sql(sc::Dialect::postgres), {subscriber});
    return removed;
  });
}

Result<std::uint64_t> PostgresRepository::pending(std::string_view subscriber) {
  return impl_->with_transaction<std::uint64_t>([&](pqxx::work& tx) -> Result<std::uint64_t> {
    const auto result = run(tx, sc::pending_sql(sc::Dialect::postgres), {std::string(subscriber)});
    return result.empty() ? 0 : result[0][0].as<std::uint64_t>();
  });
}

// The cluster (migration 7; docs/adr/0017-cluster-leases.md). Every time is the database's.

Result<void> PostgresRepository::join(const core::InstanceInfo& self) {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->self = self;
  }
  return impl_->with_transaction<void>([&](pqxx::work& tx) -> Result<void> {
    const auto joined = tx.exec_params(
        "INSERT INTO cluster_instances (id, incarnation, address, devices, started_at, heartbeat_at) "
        "VALUES ($1, $2, $3, $4, now(), now()) ON CONFLICT (id) DO UPDATE SET incarnation = excluded.incarnation, "
        "address = excluded.address, devices = excluded.devices, started_at = now(), heartbeat_at = now(), "
        "stopped_at = NULL WHERE cluster_instances.incarnation = excluded.incarnation OR cluster_instances.stopped_at IS NOT "
        "NULL OR cluster_instances.heartbeat_at < now() - "
        "$5::bigint * interval '1 millisecond' RETURNING id",
        self.id, self.incarnation, self.address, fmt::format("{}", fmt::join(self.devices, ",")),
        lease_ms(self.lease));
    if (!joined.empty()) {
      // Instances that left cleanly ten minutes ago, or went silent a day ago, and hold
      // nothing: a generated id never comes back, and /api/cluster is for the living.
      tx.exec(fmt::format(
          "DELETE FROM cluster_instances i WHERE (i.stopped_at < now() - interval '10 minutes' OR i.heartbeat_at < "
          "now() - interval '1 day') AND NOT EXISTS (SELECT 1 FROM recordings r WHERE r.lease_instance = i.id AND "
          "r.state NOT IN {})",
          kTerminal));
      return core::ok();
    }
    const auto other = tx.exec_params(
        "SELECT address, extract(epoch FROM now() - heartbeat_at) FROM cluster_instances WHERE id = $1", self.id);
    return core::fail(Errc::id_taken,
                      fmt::format("cluster.instance_id '{}' is in use by a running recorderd (at {}, heartbeat {:.1f} s "
                                  "ago): give each instance its own id, or leave it empty for a generated one",
                                  self.id, other.empty() ? "?" : other[0][0].c_str(),
                                  other.empty() ? 0.0 : seconds_of(other[0][1])));
  });
}

Result<void> PostgresRepository::heartbeat() {
  return impl_->with_transaction<void>([&](pqxx::work& tx) -> Result<void> {
    const auto beat = tx.exec_params(
        "UPDATE cluster_instances SET heartbeat_at = now() WHERE id = $1 AND incarnation = $2 RETURNING id",
        impl_->self.id, impl_->self.incarnation);
    if (beat.empty())
      return core::fail(Errc::id_taken, fmt::format("instance '{}' was joined by another process with its id",
                                                    impl_->self.id));
    return core::ok();
  });
}

Result<std::vector<core::HeldLease>> PostgresRepository::renew_leases() {
  return impl_->with_transaction<std::vector<core::HeldLease>>([&](pqxx::work& tx) -> Result<std::vector<core::HeldLease>> {
    const auto rows = tx.exec_params(
        fmt::format("UPDATE recordings SET lease_until = now() + $2::bigint * interval '1 millisecond' WHERE "
                    "lease_instance = $1 AND lease_until IS NOT NULL AND state NOT IN {} RETURNING id, lease_epoch",
                    kTerminal),
        impl_->self.id, lease_ms(impl_->self.lease));
    std::vector<core::HeldLease> out;
    out.reserve(rows.size());
    for (const auto& r : rows) out.push_back(core::HeldLease{r[0].c_str(), r[1].as<std::uint64_t>()});
    return out;
  });
}

Result<std::vector<core::Recording>> PostgresRepository::claim_expired(bool own_too, std::size_t limit) {
  return impl_->with_transaction<std::vector<core::Recording>>([&](pqxx::work& tx) -> Result<std::vector<core::Recording>> {
    const auto rows = tx.exec_params(
        fmt::format("WITH c AS (SELECT id FROM recordings WHERE state NOT IN {0} AND (lease_until IS NULL OR "
                    "lease_until < now(){1}) AND (kind <> 'capture' OR device = ANY($4::text[])) ORDER BY created_at, id "
                    "LIMIT $3 FOR UPDATE SKIP LOCKED) "
                    "UPDATE recordings r SET lease_instance = $1, lease_epoch = r.lease_epoch + 1, lease_until = now() "
                    "+ $2::bigint * interval '1 millisecond' FROM c WHERE r.id = c.id RETURNING {2}",
                    kTerminal, own_too ? " OR lease_instance = $1" : "", columns_of("r.")),
        impl_->self.id, lease_ms(impl_->self.lease), static_cast<std::int64_t>(limit), text_array(impl_->self.devices));
    auto claimed = recordings_of(rows);
    if (claimed) std::ranges::sort(*claimed, {}, &core::Recording::created_at);
    return claimed;
  });
}

Result<std::optional<core::Recording>> PostgresRepository::claim(const core::RecordingId& id) {
  return impl_->with_transaction<std::optional<core::Recording>>(
      [&](pqxx::work& tx) -> Result<std::optional<core::Recording>> {
        const auto rows = tx.exec_params(
            fmt::format("UPDATE recordings SET lease_instance = $2, lease_epoch = lease_epoch + 1, lease_until = now() "
                        "+ $3::bigint * interval '1 millisecond' WHERE id = $1 AND state NOT IN {} AND (lease_until IS "
                        "NULL OR lease_until < now()) RETURNING {}",
                        kTerminal, columns_of("")),
            id, impl_->self.id, lease_ms(impl_->self.lease));
        if (!rows.empty()) {
          auto claimed = recordings_of(rows);
          if (!claimed) return std::unexpected(claimed.error());
          return std::optional<core::Recording>(std::move(claimed->front()));
        }
        const auto holder = tx.exec_params(
            fmt::format("SELECT lease_instance, extract(epoch FROM lease_until - now()) FROM recordings WHERE id = $1 "
                        "AND state NOT IN {}",
                        kTerminal),
            id);
        if (holder.empty()) return std::optional<core::Recording>{};  // unknown, or it ended
        return core::fail(Errc::lease_lost,
                          fmt::format("recording {} is live on instance '{}', whose lease runs {:.1f} s more; resume "
                                      "it there, or here once that instance lets it go",
                                      id, holder[0][0].c_str(), seconds_of(holder[0][1])),
                          id);
      });
}

Result<bool> PostgresRepository::lead() {
  return impl_->with_transaction<bool>([&](pqxx::work& tx) -> Result<bool> {
    const auto led = tx.exec_params(
        "INSERT INTO cluster_leader (name, instance, epoch, lease_until) VALUES ('leader', $1, 1, now() + "
        "$2::bigint * interval '1 millisecond') ON CONFLICT (name) DO UPDATE SET instance = excluded.instance, epoch = "
        "CASE WHEN cluster_leader.instance = excluded.instance THEN cluster_leader.epoch ELSE cluster_leader.epoch + 1 "
        "END, lease_until = excluded.lease_until WHERE cluster_leader.instance = excluded.instance OR "
        "cluster_leader.lease_until < now() RETURNING epoch",
        impl_->self.id, lease_ms(impl_->self.lease));
    return !led.empty();
  });
}

Result<void> PostgresRepository::leave() {
  return impl_->with_transaction<void>([&](pqxx::work& tx) -> Result<void> {
    tx.exec_params("UPDATE recordings SET lease_until = now() - interval '1 second' WHERE lease_instance = $1 AND "
                   "lease_until IS NOT NULL",
                   impl_->self.id);
    tx.exec_params("UPDATE cluster_leader SET lease_until = now() - interval '1 second' WHERE instance = $1",
                   impl_->self.id);
    tx.exec_params("UPDATE cluster_instances SET stopped_at = now() WHERE id = $1 AND incarnation = $2",
                   impl_->self.id, impl_->self.incarnation);
    return core::ok();
  });
}

Result<core::ClusterView> PostgresRepository::view() {
  return impl_->with_transaction<core::ClusterView>([&](pqxx::work& tx) -> Result<core::ClusterView> {
    core::ClusterView v;
    const auto instances = tx.exec_params(
        fmt::format("SELECT i.id, i.address, i.devices, (extract(epoch FROM i.started_at) * 1000000)::bigint, "
                    "(extract(epoch FROM i.heartbeat_at) * 1000000)::bigint, extract(epoch FROM now() - i.heartbeat_at), "
                    "i.stopped_at IS NOT NULL, (SELECT count(*) FROM recordings r WHERE r.lease_instance = i.id AND "
                    "r.lease_until > now() AND r.state NOT IN {}) FROM cluster_instances i ORDER BY i.id",
                    kTerminal));
    for (const auto& r : instances) {
      core::InstanceStatus s;
      s.id = r[0].c_str();
      s.address = r[1].c_str();
      for (std::string_view rest = r[2].c_str(); !rest.empty();) {
        const auto comma = rest.find(',');
        s.devices.emplace_back(rest.substr(0, comma));
        rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
      }
      s.started_at = sc::from_micros(r[3].as<std::int64_t>());
      s.heartbeat_at = sc::from_micros(r[4].as<std::int64_t>());
      s.heartbeat_age_seconds = seconds_of(r[5]);
      s.stopped = r[6].as<bool>();
      s.alive = !s.stopped && s.heartbeat_age_seconds * 1000 < static_cast<double>(impl_->self.lease.count());
      s.leases = r[7].as<std::uint64_t>();
      v.instances.push_back(std::move(s));
    }
    const auto leader = tx.exec(
        "SELECT instance, epoch, extract(epoch FROM lease_until - now()) FROM cluster_leader WHERE name = 'leader' AND "
        "lease_until > now()");
    if (!leader.empty()) {
      v.leader = leader[0][0].c_str();
      v.leader_epoch = leader[0][1].as<std::uint64_t>();
      v.leader_lease_left_seconds = seconds_of(leader[0][2]);
    }
    v.unowned = tx.exec(fmt::format("SELECT count(*) FROM recordings WHERE state NOT IN {} AND (lease_until IS NULL OR "
                                    "lease_until < now())",
                                    kTerminal))[0][0]
                    .as<std::uint64_t>();
    return v;
  });
}

// Commands between instances (migration 8; docs/adr/0018-cluster-commands.md). The row is
// the truth; pg_notify, sent at commit, only wakes the other side.

Result<void> PostgresRepository::hand_over(const core::RecordingId& id, std::uint64_t epoch, const std::string& to) {
  return impl_->with_transaction<void>([&](pqxx::work& tx) -> Result<void> {
    const auto moved = tx.exec_params(
        fmt::format("UPDATE recordings SET lease_instance = $4, lease_epoch = lease_epoch + 1, lease_until = now() + "
                    "$5::bigint * interval '1 millisecond' WHERE id = $1 AND lease_instance = $2 AND lease_epoch = $3 "
                    "AND state NOT IN {} RETURNING lease_epoch",
                    kTerminal),
        id, impl_->self.id, static_cast<std::int64_t>(epoch), to, lease_ms(impl_->self.lease));
    if (moved.empty())
      return core::fail(Errc::lease_lost,
                        fmt::format("recording {} is not held by instance '{}' under lease epoch {} (it ended, or "
                                    "another instance holds it now)",
                                    id, impl_->self.id, epoch),
                        id);
    return core::ok();
  });
}

Result<std::uint64_t> PostgresRepository::send(const std::string& to, const core::ClusterCommand& c,
                                               core::Duration expires) {
  return impl_->with_transaction<std::uint64_t>([&](pqxx::work& tx) -> Result<std::uint64_t> {
    // An instance that missed two heartbeats is not asked: it would not answer in time.
    const auto beat = tx.exec_params(
        "SELECT extract(epoch FROM now() - heartbeat_at), stopped_at IS NOT NULL FROM cluster_instances WHERE id = $1",
        to);
    const double age = beat.empty() ? -1 : seconds_of(beat[0][0]);
    if (beat.empty() || beat[0][1].as<bool>() || age * 1000 > static_cast<double>(impl_->self.lease.count()) * 2 / 3)
      return core::fail(Errc::unavailable,
                        beat.empty() || beat[0][1].as<bool>()
                            ? fmt::format("instance '{}' is not running", to)
                            : fmt::format("instance '{}' does not answer (its last heartbeat was {:.1f} s ago); once "
                                          "its lease runs out, any instance takes the recording over",
                                          to, age));
    // Commands nobody answered (their sender gave up long ago) go here.
    tx.exec("DELETE FROM cluster_commands WHERE expires_at < now() - interval '1 minute'");
    const auto row = tx.exec_params(
        "INSERT INTO cluster_commands (target, sender, kind, recording_id, epoch, argument, expires_at) VALUES ($1, $2, "
        "$3, $4, $5, $6, now() + $7::bigint * interval '1 millisecond') RETURNING seq",
        to, impl_->self.id, std::string(core::to_string(c.kind)), c.recording, static_cast<std::int64_t>(c.epoch),
        c.argument, lease_ms(expires));
    tx.exec_params("SELECT pg_notify($1, $2)", std::string(kNotifyChannel), "command " + to);
    return row[0][0].as<std::uint64_t>();
  });
}

Result<std::vector<core::ClusterCommand>> PostgresRepository::commands() {
  return impl_->with_transaction<std::vector<core::ClusterCommand>>(
      [&](pqxx::work& tx) -> Result<std::vector<core::ClusterCommand>> {
        const auto rows = tx.exec_params(
            "SELECT seq, sender, kind, recording_id, epoch, argument FROM cluster_commands WHERE target = $1 AND "
            "answered_at IS NULL AND expires_at > now() ORDER BY seq",
            impl_->self.id);
        std::vector<core::ClusterCommand> out;
        for (const auto& r : rows) {
          const auto kind = core::parse_command_kind(r[2].c_str());
          if (!kind) continue;  // from a newer version: its sender times out
          out.push_back(core::ClusterCommand{r[0].as<std::uint64_t>(), r[1].c_str(), *kind, r[3].c_str(),
                                             r[4].as<std::uint64_t>(), r[5].c_str()});
        }
        return out;
      });
}

Result<void> PostgresRepository::answer(const core::ClusterCommand& c, const Result<void>& outcome) {
  return impl_->with_transaction<void>([&](pqxx::work& tx) -> Result<void> {
    tx.exec_params("UPDATE cluster_commands SET answered_at = now(), outcome = $2, message = $3 WHERE seq = $1",
                   static_cast<std::int64_t>(c.seq), outcome ? std::string() : std::string(core::to_string(outcome.error().code)),
                   outcome ? std::string() : outcome.error().message);
    tx.exec_params("SELECT pg_notify($1, $2)", std::string(kNotifyChannel), "answer " + c.from);
    return core::ok();
  });
}

Result<std::optional<Result<void>>> PostgresRepository::outcome(std::uint64_t seq) {
  return impl_->with_transaction<std::optional<Result<void>>>([&](pqxx::work& tx) -> Result<std::optional<Result<void>>> {
    const auto rows = tx.exec_params(
        "DELETE FROM cluster_commands WHERE seq = $1 AND answered_at IS NOT NULL RETURNING outcome, message, "
        "recording_id",
        static_cast<std::int64_t>(seq));
    if (rows.empty()) return std::optional<Result<void>>{};
    const std::string code = rows[0][0].c_str();
    if (code.empty()) return std::optional<Result<void>>(core::ok());
    return std::optional<Result<void>>(std::unexpected(
        core::Error{core::parse_errc(code).value_or(Errc::internal), rows[0][1].c_str(), rows[0][2].c_str()}));
  });
}

}  // namespace recorder::adapters::postgres
