#pragma once

// API tokens in the SQL stores (migration 3): the row mapping and the statements, shared by
// SQLite and Postgres like the recordings' (recording_rows.hpp).

#include <span>
#include <string>
#include <vector>

#include "recorder/adapters/store_common/recording_rows.hpp"
#include "recorder/core/domain/webhook.hpp"
#include "recorder/core/ports/token_store.hpp"

namespace recorder::adapters::store_common {

std::span<const Column> token_columns();
Row to_row(const core::StoredToken& t);
core::Result<core::StoredToken> token_from_row(const Row& row);

std::string insert_token_sql(Dialect d);
std::string select_token_sql(Dialect d);   // ?1 id
std::string select_tokens_sql();            // every token, oldest first
std::string revoke_token_sql(Dialect d);   // ?1 id, ?2 at; RETURNING id when it was live
std::string touch_token_sql(Dialect d);    // ?1 id, ?2 at

// Inbound webhooks taken (migration 5).
std::string hook_taken_sql(Dialect d);     // ?1 webhook_id; a row when taken
std::string take_hook_sql(Dialect d);      // ?1 webhook_id, ?2 type, ?3 recording_id, ?4 at

// Webhook endpoints added over REST (migration 5): name, url, secrets and events (lists
// joined with ',').
std::string select_webhook_endpoints_sql();
std::string insert_webhook_endpoint_sql(Dialect d);  // ?1..?4 the columns, ?5 at; RETURNING name when new
std::string delete_webhook_endpoint_sql(Dialect d);  // ?1 name; RETURNING name when it was there
std::string forget_deliveries_sql(Dialect d);        // ?1 subscriber
std::string forget_subscriber_sql(Dialect d);        // ?1 subscriber
core::WebhookEndpoint webhook_endpoint_from(std::string name, std::string url, const std::string& secrets,
                                            const std::string& events);
std::string join_list(const std::vector<std::string>& items);

}  // namespace recorder::adapters::store_common
