#include "recorder/testing/fakes.hpp"


#include <algorithm>
#include <functional>
#include <limits>
#include <stdexcept>

namespace recorder::testing {

FakeClock::FakeClock()
    : mono_(MonoTime{} + std::chrono::hours{1000}),
      wall_(WallTime{} + std::chrono::sys_days{std::chrono::year{2026} / 1 / 1}.time_since_epoch()) {}

void FakeScheduler::arm(const RecordingId& id, DeadlineKind kind, MonoTime at) {
  std::lock_guard lock(mutex_);
  deadlines_[{id, kind}] = at;
}

void FakeScheduler::cancel(const RecordingId& id, DeadlineKind kind) {
  std::lock_guard lock(mutex_);
  deadlines_.erase({id, kind});
}

std::size_t FakeScheduler::size() const {
  std::lock_guard lock(mutex_);
  return deadlines_.size();
}

void FakeScheduler::cancel_all(const RecordingId& id) {
  std::lock_guard lock(mutex_);
  std::erase_if(deadlines_, [&](const auto& entry) { return entry.first.first == id; });
}

std::optional<MonoTime> FakeScheduler::deadline(const RecordingId& id, DeadlineKind kind) const {
  std::lock_guard lock(mutex_);
  auto it = deadlines_.find({id, kind});
  if (it == deadlines_.end()) return std::nullopt;
  return it->second;
}

std::size_t FakeScheduler::run_for(FakeClock& clock, RecordingService& service, Duration d) {
  const MonoTime target = clock.monotonic_now() + d;
  std::size_t fired = 0;
  for (;;) {
    std::pair<RecordingId, DeadlineKind> key;
    MonoTime at;
    {
      std::lock_guard lock(mutex_);
      auto next = std::ranges::min_element(deadlines_, {}, [](const auto& entry) { return entry.second; });
      if (next == deadlines_.end() || next->second > target) break;
      key = next->first;
      at = next->second;
      deadlines_.erase(next);
    }
    if (at > clock.monotonic_now()) clock.set_mono(at);
    service.on_deadline(key.first, key.second);
    ++fired;
  }
  clock.set_mono(target);
  return fired;
}

Result<void> FakeRepository::save(const Recording& r, std::span<const RecordingEvent> events,
                                  std::span<const NoticeBody> notices) {
  if (before_save) before_save(r);
  std::lock_guard lock(mutex_);
  if (down) return fail(Errc::unavailable, "database is down");
  if (fenced.contains(r.id)) return fail(Errc::lease_lost, "recording " + r.id + " is held by instance 'other'");
  if (r.kind == SourceKind::capture && devices_elsewhere.contains(r.meta.device) && !rows.contains(r.id))
    return fail(Errc::device_busy, "device '" + r.meta.device + "' is already recording (session x, on instance 'other')",
                "x");
  ++saves;
  rows.insert_or_assign(r.id, r);
  log.insert(log.end(), events.begin(), events.end());
  put_notices(notices);
  return ok();
}

void FakeRepository::put_notices(std::span<const NoticeBody> notices) {
  for (const NoticeBody& n : notices) outbox.push_back(OutboxEntry{outbox.size() + 1, n});
}

Result<void> FakeRepository::ping() {
  if (down) return fail(Errc::unavailable, "database is down");
  return ok();
}

Result<void> FakeRepository::append(std::span<const NoticeBody> notices) {
  std::lock_guard lock(mutex_);
  if (down) return fail(Errc::unavailable, "database is down");
  put_notices(notices);
  return ok();
}

Result<void> FakeRepository::add_subscriber(std::string_view subscriber) {
  std::lock_guard lock(mutex_);
  if (down) return fail(Errc::unavailable, "database is down");
  subscribers.emplace(std::string(subscriber), outbox.size() + 1);
  return ok();
}

Result<std::vector<OutboxEntry>> FakeRepository::latest(std::string_view type_prefix, std::size_t limit) {
  std::lock_guard lock(mutex_);
  if (down) return fail(Errc::unavailable, "database is down");
  std::vector<OutboxEntry> out;
  for (auto it = outbox.rbegin(); it != outbox.rend() && out.size() < limit; ++it) {
    if (notice_type(it->body).starts_with(type_prefix)) out.push_back(*it);
  }
  return out;
}

Result<std::vector<OutboxEntry>> FakeRepository::undelivered(std::string_view subscriber, std::size_t limit) {
  std::lock_guard lock(mutex_);
  if (down) return fail(Errc::unavailable, "database is down");
  auto from = subscribers.find(subscriber);
  if (from == subscribers.end()) return fail(Errc::not_found, "unknown subscriber");
  std::vector<OutboxEntry> out;
  for (const OutboxEntry& e : outbox) {
    if (out.size() == limit) break;
    if (e.seq >= from->second && !delivered.contains({std::string(subscriber), e.seq})) out.push_back(e);
  }
  return out;
}

Result<void> FakeRepository::mark_delivered(std::string_view subscriber, std::span<const std::uint64_t> seqs) {
  std::lock_guard lock(mutex_);
  if (down) return fail(Errc::unavailable, "database is down");
  for (auto seq : seqs) delivered.emplace(std::string(subscriber), seq);
  return ok();
}

Result<bool> FakeRepository::hook_taken(const std::string& webhook_id) {
  std::lock_guard lock(mutex_);
  if (down) return fail(Errc::unavailable, "the fake store is down");
  return hooks_taken.contains(webhook_id);
}

Result<void> FakeRepository::take_hook(const std::string& webhook_id, const std::string&, const std::string&, WallTime) {
  std::lock_guard lock(mutex_);
  if (down) return fail(Errc::unavailable, "the fake store is down");
  hooks_taken.insert(webhook_id);
  return ok();
}

Result<std::uint64_t> FakeRepository::pending(std::string_view subscriber) {
  auto left = undelivered(subscriber, std::numeric_limits<std::size_t>::max());
  if (!left) return left.error().code == Errc::not_found ? Result<std::uint64_t>{0} : std::unexpected(left.error());
  return left->size();
}

std::size_t FakeRepository::count_notices(std::string_view type) const {
  std::lock_guard lock(mutex_);
  return static_cast<std::size_t>(
      std::ranges::count_if(outbox, [&](const OutboxEntry& e) { return notice_type(e.body) == type; }));
}

Result<std::optional<Recording>> FakeRepository::find(const RecordingId& id) {
  std::lock_guard lock(mutex_);
  if (down) return fail(Errc::unavailable, "database is down");
  auto it = rows.find(id);
  if (it == rows.end()) return std::optional<Recording>{};
  return std::optional<Recording>{it->second};
}

Result<std::optional<Recording>> FakeRepository::find_by_agent_key(const std::string& key) {
  std::lock_guard lock(mutex_);
  if (down) return fail(Errc::unavailable, "database is down");
  std::optional<Recording> found;
  for (const auto& [id, r] : rows) {
    if (r.kind != SourceKind::agent || agent_key(r.meta) != key) continue;
    if (!found || (is_live(r.state) && !is_live(found->state)) || r.created_at > found->created_at) found = r;
  }
  return found;
}

Result<std::vector<Recording>> FakeRepository::find_unfinished() {
  std::lock_guard lock(mutex_);
  if (down) return fail(Errc::unavailable, "database is down");
  std::vector<Recording> out;
  for (const auto& [id, r] : rows) {
    if (!is_terminal(r.state)) out.push_back(r);
  }
  std::ranges::sort(out, {}, &Recording::created_at);
  return out;
}

Result<std::vector<Recording>> FakeRepository::list(const RecordingQuery& q) {
  std::lock_guard lock(mutex_);
  if (down) return fail(Errc::unavailable, "database is down");
  std::vector<Recording> out;
  for (const auto& [id, r] : rows) {
    if (q.state && r.state != *q.state) continue;
    if (q.finished && r.state != State::ready && r.state != State::failed) continue;
    if (q.kind && r.kind != *q.kind) continue;
    if (q.device && r.meta.device != *q.device) continue;
    if (q.agent_id && r.meta.agent_id != *q.agent_id) continue;
    if (q.organizer && r.meta.organizer != *q.organizer) continue;
    if (q.session_id && r.meta.session_id != *q.session_id) continue;
    if (q.created_since && r.created_at < *q.created_since) continue;
    if (q.created_until && r.created_at >= *q.created_until) continue;
    if (q.after && std::tie(r.created_at, r.id) >= std::tie(q.after->created_at, q.after->id)) continue;
    out.push_back(r);
  }
  std::ranges::sort(out, [](const Recording& a, const Recording& b) {
    return std::tie(a.created_at, a.id) > std::tie(b.created_at, b.id);
  });
  if (out.size() > q.limit) out.resize(q.limit);
  return out;
}

Result<std::vector<RecordingEvent>> FakeRepository::events(const RecordingId& id) {
  std::lock_guard lock(mutex_);
  if (down) return fail(Errc::unavailable, "database is down");
  std::vector<RecordingEvent> out;
  std::ranges::copy_if(log, std::back_inserter(out), [&](const RecordingEvent& e) { return e.recording_id == id; });
  return out;
}

Result<void> FakeChunkStore::put(const RecordingId& id, ChunkIndex index, std::span<const std::byte> bytes) {
  std::lock_guard lock(mutex_);
  if (fail_with) return fail(*fail_with, *fail_with == Errc::storage_full ? "no space left on device" : "input/output error");
  if (chunks.contains({id, index})) return fail(Errc::internal, "chunk written twice");
  ++puts;
  chunks.emplace(std::pair{id, index}, std::vector<std::byte>(bytes.begin(), bytes.end()));
  return ok();
}

Result<ChunkLedger> FakeChunkStore::scan(const RecordingId& id) {
  std::lock_guard lock(mutex_);
  if (fail_scan) return fail(Errc::io_error, "cannot read the index");
  ChunkLedger ledger;
  for (const auto& [key, data] : chunks) {
    if (key.first == id) ledger.add(key.second, data.size());
  }
  return ledger;
}

Result<void> FakeChunkStore::remove(const RecordingId& id) {
  std::lock_guard lock(mutex_);
  std::erase_if(chunks, [&](const auto& entry) { return entry.first.first == id; });
  return ok();
}

void FakeChunkStore::forget(const RecordingId& id) {
  std::lock_guard lock(mutex_);
  forgotten.push_back(id);
}

std::string FakeChunkStore::concatenated(const RecordingId& id) const {
  std::string out;
  for (const auto& [key, data] : chunks) {
    if (key.first == id) {
      for (std::byte b : data) out.push_back(static_cast<char>(b));
    }
  }
  return out;
}

void FakeFinalizer::finalize(const Recording& r, Done done) {
  std::lock_guard lock(mutex_);
  jobs.push_back({r.id, false, std::move(done)});
}

void FakeFinalizer::process(const Recording& r, Done done) {
  std::lock_guard lock(mutex_);
  jobs.push_back({r.id, true, std::move(done)});
}

Result<void> FakeFinalizer::remove(const Recording& r) {
  std::lock_guard lock(mutex_);
  removed.push_back(r.id);
  return ok();
}

bool FakeFinalizer::complete(const RecordingId& id, Result<FinalizeResult> result) {
  Done done;
  {
    std::lock_guard lock(mutex_);
    auto it = std::ranges::find(jobs, id, &Job::id);
    if (it == jobs.end()) return false;
    done = std::move(it->done);
    jobs.erase(it);
  }
  done(std::move(result));  // without the lock: it calls back into the service
  return true;
}

std::size_t FakeFinalizer::pending(const RecordingId& id, bool processing) const {
  std::lock_guard lock(mutex_);
  return static_cast<std::size_t>(
      std::ranges::count_if(jobs, [&](const Job& j) { return j.id == id && j.processing == processing; }));
}

Result<void> FakeAgentChannel::send(const Recording& r, AgentCommandKind command) {
  if (!online) return fail(Errc::agent_unavailable, "agent " + r.meta.agent_id + " is not connected");
  sent.push_back({r.id, command, r.stop_reason});
  return ok();
}

Result<StorageInfo> FakeStorageProbe::probe() const {
  if (broken) return fail(Errc::storage_unavailable, "Storage information unavailable");
  return info;
}

void FakeStorageProbe::set_used_percent(double percent) {
  info.total_bytes = 100000;
  info.available_bytes = static_cast<std::uint64_t>(100000.0 * (100.0 - percent) / 100.0);
}

std::size_t AlertLog::count(Severity s) const {
  return static_cast<std::size_t>(std::ranges::count(alerts, s, &Alert::severity));
}

bool AlertLog::any_containing(std::string_view text) const {
  return std::ranges::any_of(alerts, [&](const Alert& a) { return a.message.find(text) != std::string::npos; });
}

void FakeEventPublisher::publish(const NoticeBody& n) {
  std::lock_guard lock(mutex_);
  if (const auto* r = std::get_if<RecordingNotice>(&n)) notices.push_back(*r);
  else if (const auto* s = std::get_if<StorageNotice>(&n)) storage.push_back(*s);
  else if (const auto* a = std::get_if<AgentNotice>(&n)) agents.push_back(*a);
  else alerts.alerts.push_back(std::get<Alert>(n));
}

std::size_t FakeOperatorLog::count(Severity s) const {
  return static_cast<std::size_t>(std::ranges::count_if(lines, [s](const auto& l) { return l.first == s; }));
}

bool FakeOperatorLog::any_containing(std::string_view text) const {
  return std::ranges::any_of(lines, [&](const auto& l) { return l.second.find(text) != std::string::npos; });
}

Result<void> FakeSubscriber::deliver(const OutboxEntry& entry) {
  if (failing) return fail(Errc::unavailable, "subscriber is failing");
  received.push_back(entry);
  if (on_deliver) on_deliver(entry);
  return ok();
}

std::vector<Notice> FakeEventPublisher::for_recording(const RecordingId& id) const {
  std::vector<Notice> out;
  for (const auto& n : notices) {
    if (n.recording.id == id) out.push_back(n.notice);
  }
  return out;
}

Harness::Harness(Rules r, StoragePolicy storage_policy)
    : rules(r),
      service(Ports{clock, scheduler, repository, repository, chunks, finalizer, capture, agents, storage, events, oplog,
                    ids},
              r, storage_policy) {}

Recording Harness::get(const RecordingId& id) {
  auto r = service.get(id);
  if (!r) throw std::runtime_error("no recording " + id + ": " + r.error().message);
  return *r;
}

void Harness::finalize_ok(const RecordingId& id, bool needs_processing) {
  const Recording r = get(id);
  FinalizeResult result;
  result.files.push_back(MediaFile{id + "/original.webm", FileRole::original, r.ledger.total_bytes(), std::nullopt});
  result.needs_processing = needs_processing;
  if (!finalizer.complete(id, result)) throw std::runtime_error("no finalize job for " + id);
}

std::unique_ptr<Harness> Harness::restarted(Duration downtime) const {
  auto next = std::make_unique<Harness>(rules);
  next->repository.rows = repository.rows;
  next->repository.log = repository.log;
  next->repository.outbox = repository.outbox;
  next->repository.subscribers = repository.subscribers;
  next->repository.delivered = repository.delivered;
  next->chunks.chunks = chunks.chunks;
  next->clock.set_mono(clock.monotonic_now() + downtime);
  return next;
}

std::vector<std::byte> bytes_of(std::string_view text) {
  std::vector<std::byte> out;
  for (char c : text) out.push_back(static_cast<std::byte>(c));
  return out;
}

}  // namespace recorder::testing
