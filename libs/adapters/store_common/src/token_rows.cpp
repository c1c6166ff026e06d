#include "recorder/adapters/store_common/token_rows.hpp"

#include <array>

#include <fmt/format.h>

namespace recorder::adapters::store_common {
namespace {

constexpr std::array kTokenColumns{
    Column{"id", ColumnType::text},           Column{"name", ColumnType::text},
    Column{"role", ColumnType::text},         Column{"secret_hash", ColumnType::text},
    Column{"created_at", ColumnType::integer}, Column{"last_used_at", ColumnType::integer},
    Column{"revoked_at", ColumnType::integer},
};
constexpr std::string_view kColumnList = "id, name, role, secret_hash, created_at, last_used_at, revoked_at";

Value optional_time(const std::optional<core::WallTime>& t) { return t ? Value{to_micros(*t)} : Value{}; }

}  // namespace

std::span<const Column> token_columns() { return kTokenColumns; }

Row to_row(const core::StoredToken& t) {
  return Row{t.token.id,
             t.token.name,
             std::string(core::to_string(t.token.role)),
             t.secret_hash,
             to_micros(t.token.created_at),
             optional_time(t.token.last_used_at),
             optional_time(t.token.revoked_at)};
}

core::Result<core::StoredToken> token_from_row(const Row& row) {
  if (row.size() != kTokenColumns.size()) return core::fail(core::Errc::internal, "an api_tokens row is malformed");
  const auto text = [&](std::size_t i) -> std::string {
    const auto* s = std::get_if<std::string>(&row[i]);
    return s ? *s : std::string{};
  };
  const auto time = [&](std::size_t i) -> std::optional<core::WallTime> {
    const auto* v = std::get_if<std::int64_t>(&row[i]);
    return v ? std::optional{from_micros(*v)} : std::nullopt;
  };
  core::StoredToken t;
  t.token.id = text(0);
  t.token.name = text(1);
  const auto role = core::parse_role(text(2));
  const auto created = time(4);
  if (!role || !created)
    return core::fail(core::Errc::internal, fmt::format("the token {} is stored wrongly", t.token.id));
  t.token.role = *role;
  t.secret_hash = text(3);
  t.token.created_at = *created;
  t.token.last_used_at = time(5);
  t.token.revoked_at = time(6);
  return t;
}

std::string insert_token_sql(Dialect d) {
  return fmt::format("INSERT INTO api_tokens ({}) VALUES ({}, {}, {}, {}, {}, {}, {})", kColumnList, placeholder(d, 1),
                     placeholder(d, 2), placeholder(d, 3), placeholder(d, 4), placeholder(d, 5), placeholder(d, 6),
                     placeholder(d, 7));
}

std::string select_token_sql(Dialect d) {
  return fmt::format("SELECT {} FROM api_tokens WHERE id = {}", kColumnList, placeholder(d, 1));
}

std::string select_tokens_sql() { return fmt::format("SELECT {} FROM api_tokens ORDER BY created_at, id", kColumnList); }

std::string revoke_token_sql(Dialect d) {
  return fmt::format("UPDATE api_tokens SET revoked_at = {} WHERE id = {} AND revoked_at IS NULL RETURNING id",
                     placeholder(d, 2), placeholder(d, 1));
}

std::string hook_taken_sql(Dialect d) {
  return fmt::format("SELECT webhook_id FROM inbound_hooks WHERE webhook_id = {}", placeholder(d, 1));
}

std::string take_hook_sql(Dialect d) {
  return fmt::format(
      "INSERT INTO inbound_hooks (webhook_id, type, recording_id, taken_at) VALUES ({}, {}, {}, {}) "
      "ON CONFLICT (webhook_id) DO NOTHING",
      placeholder(d, 1), placeholder(d, 2), placeholder(d, 3), placeholder(d, 4));
}

std::string select_webhook_endpoints_sql() {
  return "SELECT name, url, secrets, events FROM webhook_endpoints ORDER BY created_at, name";
}

std::string insert_webhook_endpoint_sql(Dialect d) {
  return fmt::format(
      "INSERT INTO webhook_endpoints (name, url, secrets, events, created_at) VALUES ({}, {}, {}, {}, {}) "
      "ON CONFLICT (name) DO NOTHING RETURNING name",
      placeholder(d, 1), placeholder(d, 2), placeholder(d, 3), placeholder(d, 4), placeholder(d, 5));
}

std::string delete_webhook_endpoint_sql(Dialect d) {
  return fmt::format("DELETE FROM webhook_endpoints WHERE name = {} RETURNING name", placeholder(d, 1));
}

std::string forget_deliveries_sql(Dialect d) {
  return fmt::format("DELETE FROM outbox_deliveries WHERE subscriber = {}", placeholder(d, 1));
}

std::string forget_subscriber_sql(Dialect d) {
  return fmt::format("DELETE FROM outbox_subscribers WHERE name = {}", placeholder(d, 1));
}

std::string join_list(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ",") + i;
  return out;
}

core::WebhookEndpoint webhook_endpoint_from(std::string name, std::string url, const std::string& secrets,
                                            const std::string& events) {
  core::WebhookEndpoint e;
  e.name = std::move(name);
  e.url = std::move(url);
  const auto split = [](const std::string& text, std::vector<std::string>& out) {
    for (std::string_view rest = text; !rest.empty();) {
      const auto comma = rest.find(',');
      out.emplace_back(rest.substr(0, comma));
      rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    }
  };
  split(secrets, e.secrets);
  split(events, e.events);
  return e;
}

std::string touch_token_sql(Dialect d) {
  return fmt::format("UPDATE api_tokens SET last_used_at = {} WHERE id = {}", placeholder(d, 2), placeholder(d, 1));
}

}  // namespace recorder::adapters::store_common
