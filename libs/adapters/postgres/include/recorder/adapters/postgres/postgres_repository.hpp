#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "recorder/core/ports/cluster_store.hpp"
#include "recorder/core/ports/hook_receipts.hpp"
#include "recorder/core/ports/outbox.hpp"
#include "recorder/core/ports/recording_repository.hpp"
#include "recorder/core/ports/token_store.hpp"
#include "recorder/core/ports/webhook_store.hpp"

namespace recorder::adapters::postgres {

// The channel on which instances wake each other (pg_notify). Payloads: "command <to>"
// (instance <to> has a command to run), "answer <to>" (a command <to> sent was answered).
inline constexpr std::string_view kNotifyChannel = "recorderd_cluster";

struct Reconnect {
  std::chrono::milliseconds initial{100};
  std::chrono::milliseconds max{5000};
};

// The production store (libpqxx): the same contract and schema as SQLite, for several
// daemons sharing one database. It connects lazily and migrates under an advisory lock.
// A lost connection is Errc::unavailable, never a crash: the next call after the back-off
// (100 ms doubling to 5 s) connects again. Thread-safe (one connection behind a mutex).
// Once join() names this instance, a save of an unfinished recording is refused unless
// this instance holds its lease under the recording's epoch (Errc::lease_lost): see
// docs/adr/0017-cluster-leases.md.
class PostgresRepository final : public core::RecordingRepository, public core::OutboxStore, public core::TokenStore,
                               public core::HookReceipts, public core::WebhookStore, public core::ClusterStore {
 public:
  explicit PostgresRepository(std::string url, Reconnect reconnect = {});
  ~PostgresRepository() override;
  PostgresRepository(const PostgresRepository&) = delete;
  PostgresRepository& operator=(const PostgresRepository&) = delete;

  // Connects and migrates now (start-up check); the error says why not.
  core::Result<void> connect();

  // Port
  core::Result<void> save(const core::Recording& r, std::span<const core::RecordingEvent> events,
                          std::span<const core::NoticeBody> notices) override;
  core::Result<std::optional<core::Recording>> find(const core::RecordingId& id) override;
  core::Result<std::optional<core::Recording>> find_by_agent_key(const std::string& key) override;
  core::Result<std::vector<core::Recording>> find_unfinished() override;
  core::Result<std::vector<core::Recording>> list(const core::RecordingQuery& q) override;
  core::Result<std::vector<core::RecordingEvent>> events(const core::RecordingId& id) override;
  core::Result<void> ping() override;
  core::Result<void> append(std::span<const core::NoticeBody> notices) override;
  core::Result<void> add_subscriber(std::string_view subscriber) override;
  core::Result<std::vector<core::OutboxEntry>> undelivered(std::string_view subscriber, std::size_t limit) override;
  core::Result<void> mark_delivered(std::string_view subscriber, std::span<const std::uint64_t> seqs) override;
  core::Result<std::uint64_t> pending(std::string_view subscriber) override;
  core::Result<std::vector<core::OutboxEntry>> latest(std::string_view type_prefix, std::size_t limit) override;
  core::Result<void> add_token(const core::StoredToken& t) override;
  core::Result<std::optional<core::StoredToken>> find_token(const std::string& id) override;
  core::Result<std::vector<core::ApiToken>> tokens() override;
  core::Result<bool> revoke_token(const std::string& id, core::WallTime at) override;
  core::Result<void> touch_token(const std::string& id, core::WallTime at) override;
  core::Result<bool> hook_taken(const std::string& webhook_id) override;
  core::Result<void> take_hook(const std::string& webhook_id, const std::string& type, const std::string& recording_id,
                               core::WallTime at) override;
  core::Result<std::vector<core::WebhookEndpoint>> webhook_endpoints() override;
  core::Result<bool> add_webhook_endpoint(const core::WebhookEndpoint& endpoint, core::WallTime at) override;
  core::Result<bool> remove_webhook_endpoint(const std::string& name, const std::string& subscriber) override;

  core::Result<void> join(const core::InstanceInfo& self) override;
  core::Result<void> heartbeat() override;
  core::Result<std::vector<core::HeldLease>> renew_leases() override;
  core::Result<std::vector<core::Recording>> claim_expired(bool own_too, std::size_t limit) override;
  core::Result<std::optional<core::Recording>> claim(const core::RecordingId& id) override;
  core::Result<bool> lead() override;
  core::Result<void> leave() override;
  core::Result<core::ClusterView> view() override;
  core::Result<void> hand_over(const core::RecordingId& id, std::uint64_t epoch, const std::string& to) override;
  core::Result<std::uint64_t> send(const std::string& to, const core::ClusterCommand& command,
                                   core::Duration expires) override;
  core::Result<std::vector<core::ClusterCommand>> commands() override;
  core::Result<void> answer(const core::ClusterCommand& command, const core::Result<void>& outcome) override;
  core::Result<std::optional<core::Result<void>>> outcome(std::uint64_t seq) override;

  int schema_version();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace recorder::adapters::postgres
