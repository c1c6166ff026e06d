#include "recorder/core/app/lease_keeper.hpp"

#include <unordered_map>

#include <fmt/format.h>

namespace recorder::core {
namespace {

std::int64_t ticks(MonoTime t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

}  // namespace

LeaseKeeper::LeaseKeeper(ClusterStore& store, const Clock& clock, OperatorLog& log, InstanceInfo self,
                         LeaseSettings settings)
    : store_(store), clock_(clock), log_(log), self_(std::move(self)), settings_(settings) {}

void LeaseKeeper::confirm_until(MonoTime sent) {
  // The database set lease_until = its now() + lease after this was sent: the lease runs at
  // least until sent + lease by this clock. A tenth is kept back for clocks that drift.
  confirmed_until_ = ticks(sent + self_.lease - self_.lease / 10);
}

void LeaseKeeper::store_down(const Error& e) {
  connected_since_.reset();
  leader_ = false;
  if (!store_was_down_)
    log_.write(Severity::critical, fmt::format("cluster: the database does not answer, leases cannot be renewed: {}; "
                                               "chunks are refused once the leases are older than {} s",
                                               e.message, std::chrono::duration<double>(self_.lease).count()));
  store_was_down_ = true;
}

Result<RecoveryReport> LeaseKeeper::start() {
  std::lock_guard lock(tick_mutex_);
  if (auto joined = store_.join(self_); !joined) return std::unexpected(joined.error());
  const MonoTime sent = clock_.monotonic_now();
  std::vector<Recording> claimed;
  for (;;) {
    auto batch = store_.claim_expired(true, settings_.claim_batch);
    if (!batch) return std::unexpected(batch.error());
    const bool more = batch->size() == settings_.claim_batch;
    std::ranges::move(*batch, std::back_inserter(claimed));
    if (!more) break;
  }
  confirm_until(sent);
  connected_since_ = sent;
  RecoveryReport report = service_->adopt(std::move(claimed));
  if (auto lead = store_.lead(); lead) leader_ = *lead;
  return report;
}

LeaseTick LeaseKeeper::tick() {
  std::lock_guard lock(tick_mutex_);
  LeaseTick t;
  const MonoTime sent = clock_.monotonic_now();
  // What this instance holds, taken before the renewal: a recording created after it is
  // not judged by a renewal that may have missed it.
  const std::vector<HeldLease> held = service_->held_leases();
  if (auto beat = store_.heartbeat(); !beat) {
    store_down(beat.error());
    return t;
  }
  auto renewed = store_.renew_leases();
  if (!renewed) {
    store_down(renewed.error());
    return t;
  }
  t.store_up = true;
  t.renewed = renewed->size();

  std::unordered_map<RecordingId, std::uint64_t> in_store;
  for (const HeldLease& l : *renewed) in_store.emplace(l.id, l.epoch);
  for (const HeldLease& mine : held) {
    auto it = in_store.find(mine.id);
    if (it != in_store.end() && it->second == mine.epoch) continue;
    // Not renewed: another instance holds it, or it ended meanwhile (then it is no
    // longer live here, and stepping down changes nothing).
    auto now_here = service_->get(mine.id);
    if (!now_here || is_terminal(now_here->state) || now_here->lease.epoch != mine.epoch) continue;
    service_->step_down(mine.id, it == in_store.end() ? std::string("its lease was taken over")
                                                      : fmt::format("its lease epoch is {} now, this instance held {}",
                                                                    it->second, mine.epoch));
    ++t.lost;
  }
  // Confirmed only now: until the recordings lost are stepped down from, a chunk of one of
  // them must not pass for this instance's (an instance back from SIGSTOP).
  confirm_until(sent);
  if (store_was_down_) log_.write(Severity::info, "cluster: the database answers again; leases renewed");
  store_was_down_ = false;
  if (!connected_since_) connected_since_ = sent;

  // Take over only after a whole lease connected: after an outage, every live owner has
  // had its chance to renew by then.
  if (sent - *connected_since_ >= self_.lease) {
    auto claimed = store_.claim_expired(false, settings_.claim_batch);
    if (claimed && !claimed->empty()) {
      const std::size_t n = claimed->size();
      RecoveryReport report = service_->adopt(std::move(*claimed));
      t.claimed = report.recovered;
      log_.write(Severity::warning, fmt::format("cluster: took over {} recording(s) whose owner's lease expired "
                                                "({} could not be taken up)",
                                                n, report.failed.size()));
      for (const Error& e : report.failed) log_.write(Severity::critical, e.message);
    } else if (!claimed) {
      log_.write(Severity::warning, fmt::format("cluster: claiming expired leases failed: {}", claimed.error().message));
    }
  }
  auto lead = store_.lead();
  const bool was = leader_.exchange(lead && *lead);
  t.leader = leader_;
  if (was != t.leader)
    log_.write(Severity::info, t.leader ? "cluster: this instance leads now (outbox dispatch, webhooks, alerts)"
                                        : "cluster: this instance no longer leads");
  return t;
}

void LeaseKeeper::listening_at(std::string address) {
  std::lock_guard lock(tick_mutex_);
  self_.address = std::move(address);
  if (auto joined = store_.join(self_); !joined)
    log_.write(Severity::warning, fmt::format("cluster: the address could not be recorded: {}", joined.error().message));
}

void LeaseKeeper::leave() {
  std::lock_guard lock(tick_mutex_);
  confirmed_until_ = 0;
  leader_ = false;
  if (auto left = store_.leave(); !left)
    log_.write(Severity::warning, fmt::format("cluster: leases could not be released at shutdown ({}); others take "
                                              "them over when they expire",
                                              left.error().message));
}

Result<void> LeaseKeeper::confirmed() const {
  const std::int64_t until = confirmed_until_.load();
  const std::int64_t now = ticks(clock_.monotonic_now());
  if (until != 0 && now < until) return ok();
  return fail(Errc::unavailable,
              fmt::format("instance {} cannot confirm that it still holds its recordings (its leases were last "
                          "renewed more than {} s ago: the database does not answer, or the process was paused); "
                          "media is refused until it can, retry",
                          self_.id, std::chrono::duration<double>(self_.lease * 9 / 10).count()));
}

Result<std::optional<Recording>> LeaseKeeper::claim(const RecordingId& id) { return store_.claim(id); }

}  // namespace recorder::core
