#include "recorder/core/app/lease_keeper.hpp"

#include <algorithm>
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
  std::optional<Error> failed;
  std::vector<Recording> claimed = claim_batches(true, 0, failed);
  if (failed) return std::unexpected(*failed);  // the process stops; the leases expire
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
  // A command whose wake-up was lost waits at most this long.
  t.commands = handle_commands();

  t.claimed = claim_expired(sent);
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

std::size_t LeaseKeeper::sweep() {
  std::lock_guard lock(tick_mutex_);
  if (!connected_since_ || !confirmed()) return 0;
  return claim_expired(clock_.monotonic_now());
}

std::size_t LeaseKeeper::claim_expired(MonoTime now) {
  // Take over only after a whole lease connected: after an outage, every live owner has
  // had its chance to renew by then.
  if (!connected_since_ || now - *connected_since_ < self_.lease) return 0;
  // Every batch is claimed before any is taken up: owning them is one statement each,
  // taking them up a save each. A few batches at most: the renewals come first.
  std::optional<Error> failed;
  std::vector<Recording> claimed = claim_batches(false, 5, failed);
  if (failed)
    log_.write(Severity::warning, fmt::format("cluster: claiming expired leases failed: {}", failed->message));
  if (claimed.empty()) return 0;
  const std::size_t n = claimed.size();
  RecoveryReport report = service_->adopt(std::move(claimed));
  log_.write(Severity::warning, fmt::format("cluster: took over {} recording(s) whose owner's lease expired "
                                            "({} could not be taken up)",
                                            n, report.failed.size()));
  for (const Error& e : report.failed) log_.write(Severity::critical, e.message);
  return report.recovered;
}

std::vector<Recording> LeaseKeeper::claim_batches(bool own_too, std::size_t max_batches, std::optional<Error>& failed) {
  std::vector<Recording> claimed;
  for (std::size_t batch = 0; max_batches == 0 || batch < max_batches; ++batch) {
    auto more = store_.claim_expired(own_too, settings_.claim_batch);
    if (!more) {
      failed = more.error();
      break;
    }
    const std::size_t n = more->size();
    std::ranges::move(*more, std::back_inserter(claimed));
    if (n < settings_.claim_batch) break;
  }
  return claimed;  // what was claimed before a failure is this instance's all the same
}

std::size_t LeaseKeeper::handle_commands() {
  std::lock_guard lock(commands_mutex_);
  auto pending = store_.commands();
  if (!pending) return 0;  // the database is down: the tick says so
  for (const ClusterCommand& c : *pending) {
    const Result<void> outcome = run(c);
    log_.write(outcome ? Severity::info : Severity::warning,
               fmt::format("cluster: instance '{}' asked to {} recording {}: {}", c.from, to_string(c.kind), c.recording,
                           outcome ? std::string("done") : outcome.error().message));
    if (auto answered = store_.answer(c, outcome); !answered)
      log_.write(Severity::warning, fmt::format("cluster: the answer to instance '{}' could not be saved: {}", c.from,
                                                answered.error().message));
  }
  return pending->size();
}

Result<void> LeaseKeeper::run(const ClusterCommand& c) {
  const std::optional<Recording> here = service_->held_here(c.recording);
  switch (c.kind) {
    case CommandKind::release: {
      if (!here) {
        // Not live here (stepped down from already, or never taken up): the lease, if this
        // instance still has it, goes all the same.
        return store_.hand_over(c.recording, c.epoch, c.from);
      }
      if (here->state != State::recording && here->state != State::interrupted && here->state != State::stale)
        return fail(Errc::invalid_state, fmt::format("recording {} is {} on instance '{}': it cannot be handed over now",
                                                     c.recording, to_string(here->state), self_.id));
      // Stepped down first: from here on this instance writes nothing of it.
      service_->step_down(c.recording, fmt::format("handed over to instance '{}', where its client is now", c.from));
      return store_.hand_over(c.recording, here->lease.epoch, c.from);
    }
    case CommandKind::stop: {
      if (!here)
        return fail(Errc::lease_lost, fmt::format("recording {} is not live on instance '{}' any more; ask again",
                                                  c.recording, self_.id));
      auto stopped = service_->stop(c.recording, parse_stop_reason(c.argument).value_or(StopReason::manual));
      if (!stopped) return std::unexpected(stopped.error());
      return ok();
    }
  }
  return fail(Errc::invalid_argument, "unknown command");
}

void LeaseKeeper::answer_arrived() {
  {
    std::lock_guard lock(answers_mutex_);
    ++answers_arrived_;
  }
  answers_.notify_all();
}

Result<void> LeaseKeeper::ask_holder(const Recording& held, CommandKind kind, std::string argument) {
  const std::string& to = held.lease.instance;
  if (to.empty() || to == self_.id)
    return fail(Errc::internal, fmt::format("recording {} is not held by another instance", held.id));
  {
    // One that did not answer a moment ago is not waited for again until a lease has
    // passed (by then it answers, or its leases have expired): a dead instance would hold
    // a worker for each recording it had.
    std::lock_guard lock(answers_mutex_);
    if (auto it = silent_.find(to); it != silent_.end()) {
      if (std::chrono::steady_clock::now() < it->second)
        return fail(Errc::unavailable, fmt::format("recording {} is held by instance '{}', which did not answer a "
                                                   "moment ago; once its lease runs out, any instance takes it over",
                                                   held.id, to));
      silent_.erase(it);
    }
  }
  ClusterCommand command{0, self_.id, kind, held.id, held.lease.epoch, std::move(argument)};
  // A live holder answers within milliseconds (woken by the store); one that does not is
  // paused or cut off, and a client retrying is better off than one held for a lease.
  const Duration wait = std::clamp<Duration>(self_.lease / 3, std::chrono::milliseconds{500}, std::chrono::seconds{2});
  auto seq = store_.send(to, command, wait);
  if (!seq) return std::unexpected(seq.error());
  // Real time: this thread waits for another process.
  const auto deadline = std::chrono::steady_clock::now() + wait;
  std::unique_lock lock(answers_mutex_);
  for (;;) {
    const std::uint64_t seen = answers_arrived_;
    lock.unlock();
    auto outcome = store_.outcome(*seq);
    if (outcome && *outcome) return std::move(**outcome);
    lock.lock();
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      silent_.insert_or_assign(to, now + self_.lease);
      return fail(Errc::unavailable,
                  fmt::format("recording {} is held by instance '{}', which did not answer within {} s (it may be "
                              "paused or cut off from the database; once its lease runs out, any instance takes it "
                              "over); retry",
                              held.id, to, std::chrono::duration<double>(wait).count()));
    }
    answers_.wait_until(lock, std::min(deadline, now + std::chrono::milliseconds{100}),
                        [&] { return answers_arrived_ != seen; });
  }
}

}  // namespace recorder::core
