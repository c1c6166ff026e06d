#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "recorder/core/app/recording_service.hpp"
#include "recorder/core/ports/clock.hpp"
#include "recorder/core/ports/cluster_store.hpp"
#include "recorder/core/ports/operator_log.hpp"

namespace recorder::core {

struct LeaseSettings {
  std::size_t claim_batch = 200;  // recordings taken over per transaction
};

// What happened in one tick, for the log and the tests.
struct LeaseTick {
  bool store_up = false;
  std::size_t renewed = 0;
  std::size_t lost = 0;     // stepped down from: another instance holds them now
  std::size_t claimed = 0;  // taken over from an instance whose lease expired
  std::size_t commands = 0;  // answered for other instances
  bool leader = false;
};

// Keeps this instance's place in a cluster of recorderd on one database
// (docs/adr/0017-cluster-leases.md). Call tick() every third of a lease:
// - the heartbeat, and every lease held renewed (by the database's clock);
// - a recording whose lease another instance took is stepped down from (fencing: the
//   store refuses this instance's writes to it anyway);
// - recordings whose owner's lease expired are claimed and taken up as recovery does
//   (also by sweep(), between ticks), but only after this instance has been connected for
//   a whole lease, so that after a database outage every live owner renews before anyone
//   takes over;
// - the leader's lease is taken or kept (the leader dispatches the outbox).
// As the service's LeaseGuard it says whether the leases are known to be held now: renewed
// within a lease's length by the monotonic clock, measured from before the renewal was sent.
// Thread-safe: tick() from one thread, the guard from any.
class LeaseKeeper final : public LeaseGuard {
 public:
  LeaseKeeper(ClusterStore& store, const Clock& clock, OperatorLog& log, InstanceInfo self, LeaseSettings settings);

  // The service must be set before start().
  void bind(RecordingService& service) { service_ = &service; }
  // Joins (refused while another live process uses this id) and takes up what this
  // instance's id held before and what expired.
  [[nodiscard]] Result<RecoveryReport> start();
  LeaseTick tick();
  // Between ticks (every second, say): claims what expired, so that a dead instance's
  // recordings are owned again soon after its leases run out rather than up to a tick
  // later. Nothing while the leases are unconfirmed or before a whole lease connected.
  // Returns how many were taken up.
  std::size_t sweep();
  // Where this instance listens, once it does (for /api/cluster).
  void listening_at(std::string address);
  // A clean stop: leases and leadership expire now, for the others to take at once.
  void leave();
  // Runs the commands other instances sent this one (stop a recording, hand one over) and
  // answers each. Call when the store says there are some (a NOTIFY); tick() calls it too,
  // for a wake-up that was lost. Returns how many were answered.
  std::size_t handle_commands();
  // An answer to a command this instance sent may have arrived: wakes ask_holder().
  void answer_arrived();

  bool leader() const { return leader_.load(); }
  const InstanceInfo& self() const { return self_; }
  Duration lease() const { return self_.lease; }

  // LeaseGuard
  const std::string& instance() const override { return self_.id; }
  Result<void> confirmed() const override;
  Result<std::optional<Recording>> claim(const RecordingId& id) override;
  // Waits by the steady clock: a third of a lease (0.5 to 2 s), re-reading the answer every
  // 100 ms and at each answer_arrived().
  Result<void> ask_holder(const Recording& held, CommandKind kind, std::string argument) override;

 private:
  void confirm_until(MonoTime sent);
  void store_down(const Error& e);
  Result<void> run(const ClusterCommand& command);
  std::size_t claim_expired(MonoTime now);  // under tick_mutex_
  // Claims expired recordings (with `own_too` also what this id held before) in batches,
  // at most `max_batches` (0: until none is left); `failed` says why it stopped early.
  std::vector<Recording> claim_batches(bool own_too, std::size_t max_batches, std::optional<Error>& failed);

  ClusterStore& store_;
  const Clock& clock_;
  OperatorLog& log_;
  InstanceInfo self_;
  LeaseSettings settings_;
  RecordingService* service_ = nullptr;
  std::atomic<std::int64_t> confirmed_until_{0};  // monotonic ns; 0: never
  std::atomic<bool> leader_{false};
  std::mutex tick_mutex_;                    // one tick at a time
  std::optional<MonoTime> connected_since_;  // since the store last answered without a break
  bool store_was_down_ = false;
  std::mutex commands_mutex_;  // one handle_commands() at a time
  std::mutex answers_mutex_;
  std::condition_variable answers_;
  std::uint64_t answers_arrived_ = 0;  // under answers_mutex_
  // Instances that did not answer in time, and until when they are not asked again.
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> silent_;  // under answers_mutex_
};

}  // namespace recorder::core
