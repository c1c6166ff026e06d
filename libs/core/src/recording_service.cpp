#include "recorder/core/app/recording_service.hpp"

#include <algorithm>
#include <deque>

#include <fmt/format.h>

namespace recorder::core {
namespace {

template <typename T>
bool holds(const Event& e) {
  return std::holds_alternative<T>(e);
}

// Chunks, periodic agent reports and a capture's open file change only the ledger, the
// last-activity time or the current file: the chunk store holds the truth for the first,
// and the others are not worth a write each. Everything else is saved as it happens.
bool worth_saving(const Event& e, const Step& step) {
  if (step.transition) return true;
  return !holds<ev::ChunkStored>(e) && !holds<ev::StatusReported>(e) && !holds<ev::SegmentOpened>(e);
}

// Slots of agent keys share the registry with recording ids; this prefix cannot start an id
// a client may choose (ids are printable).
std::string agent_slot(const std::string& key) { return std::string("\x01" "agent:") + key; }

}  // namespace

// What a failed save held back, written by the next save of the recording or by flush().
struct RecordingService::Unsaved {
  std::optional<Recording> snapshot;
  std::vector<RecordingEvent> events;
  std::vector<NoticeBody> notices;
};

// A live recording's latest state for readers (see live_mutex_ in the header). Its own
// lock is held only to swap or copy a pointer: a reader descheduled there would hold up
// this one recording for that long, not every chunk. (std::atomic<std::shared_ptr> would
// do the same, but TSan cannot see libstdc++ 12's lock bit in it and reports races.)
struct RecordingService::LiveCell {
  explicit LiveCell(std::shared_ptr<const Recording> s) : snap(std::move(s)) {}
  std::shared_ptr<const Recording> load() const {
    std::lock_guard lock(mutex);
    return snap;
  }
  void store(std::shared_ptr<const Recording> s) {
    std::lock_guard lock(mutex);
    snap.swap(s);
  }  // the old snapshot is freed here, out of the lock

 private:
  mutable std::mutex mutex;
  std::shared_ptr<const Recording> snap;
};

// One recording's (or one agent key's) lock and what only its holder may touch.
struct RecordingService::Slot {
  std::mutex mutex;
  std::shared_ptr<LiveCell> cell;  // while the recording is live: the one in live_
  // As this process knows it; empty: read it from the store. While the recording is live,
  // the same immutable snapshot as its cell's (one copy per recording, not two).
  std::shared_ptr<const Recording> current;
  // What a failed save held back; allocated only then (a live slot stays small: 10,000
  // agents hold 10,000 slots).
  std::unique_ptr<Unsaved> unsaved;
  std::vector<Event> queue;          // events raised while carrying out effects (a few at most)
  bool draining = false;
  std::vector<std::function<void(Result<Recording>)>> on_released;
};

// A slot in use and locked, for the life of a command.
class RecordingService::Held {
 public:
  Held(RecordingService& s, std::string key) : service_(s), key_(std::move(key)), slot_(s.acquire(key_)), lock_(slot_->mutex) {}
  ~Held() {
    lock_.unlock();
    service_.release(key_);
  }
  Held(const Held&) = delete;
  Held& operator=(const Held&) = delete;
  Slot& slot() { return *slot_; }

 private:
  RecordingService& service_;
  std::string key_;
  std::shared_ptr<Slot> slot_;
  std::unique_lock<std::mutex> lock_;
};

RecordingService::RecordingService(Ports ports, Rules rules, StoragePolicy storage)
    : ports_(ports), rules_(rules), storage_policy_(storage) {}

RecordingService::~RecordingService() = default;

Now RecordingService::now() const { return Now{ports_.clock.monotonic_now(), ports_.clock.wall_now()}; }

std::shared_ptr<RecordingService::Slot> RecordingService::acquire(const std::string& key) {
  std::lock_guard lock(registry_mutex_);
  Entry& e = slots_[key];
  if (!e.slot) e.slot = std::make_shared<Slot>();
  ++e.users;
  return e.slot;
}

void RecordingService::release(const std::string& key) {
  std::lock_guard lock(registry_mutex_);
  auto it = slots_.find(key);
  if (it == slots_.end()) return;
  if (--it->second.users == 0 && !it->second.unsaved && !it->second.live) slots_.erase(it);
}

void RecordingService::publish(Held& h, std::shared_ptr<const Recording> snap) {
  Slot& slot = h.slot();
  const Recording& r = *snap;
  const bool frees_device = !is_live(r.state) && !r.meta.device.empty();
  auto free_device = [&] {
    if (auto it = devices_.find(r.meta.device); it != devices_.end() && it->second == r.id) devices_.erase(it);
  };
  if (is_terminal(r.state)) return retire(h, r);
  if (slot.cell) {
    // The common case (a chunk): no lock a reader takes.
    slot.cell->store(std::move(snap));
    if (!frees_device) return;
    std::lock_guard lock(live_mutex_);
    free_device();
    return;
  }
  slot.cell = std::make_shared<LiveCell>(std::move(snap));
  {
    std::lock_guard lock(live_mutex_);
    live_.insert_or_assign(r.id, slot.cell);
    if (frees_device) free_device();
    if (r.kind == SourceKind::agent) agent_keys_.insert_or_assign(agent_key(r.meta), r.id);
  }
  std::lock_guard lock(registry_mutex_);
  slots_[r.id].live = true;  // the holder's entry: it exists
}

void RecordingService::retire(Held& h, const Recording& r) {
  Slot& slot = h.slot();
  const bool was_live = slot.cell != nullptr;
  slot.cell.reset();
  {
    std::lock_guard lock(live_mutex_);
    live_.erase(r.id);
    if (!r.meta.device.empty()) {
      if (auto it = devices_.find(r.meta.device); it != devices_.end() && it->second == r.id) devices_.erase(it);
    }
    if (r.kind == SourceKind::agent) {
      if (auto it = agent_keys_.find(agent_key(r.meta)); it != agent_keys_.end() && it->second == r.id)
        agent_keys_.erase(it);
    }
  }
  if (was_live) {
    std::lock_guard lock(registry_mutex_);
    if (auto it = slots_.find(r.id); it != slots_.end()) it->second.live = false;
  }
}

std::optional<Recording> RecordingService::snapshot(const RecordingId& id) const {
  std::shared_ptr<LiveCell> cell;
  {
    std::lock_guard lock(live_mutex_);
    auto it = live_.find(id);
    if (it == live_.end()) return std::nullopt;
    cell = it->second;
  }
  return *cell->load();  // immutable: copied out of the lock
}

Result<Recording> RecordingService::load(Held& h, const RecordingId& id) {
  if (h.slot().current) return *h.slot().current;
  auto stored = ports_.repository.find(id);
  if (!stored) return std::unexpected(stored.error());
  if (!*stored) return fail(Errc::not_found, fmt::format("no recording with id '{}'", id));
  return std::move(**stored);
}

Result<Recording> RecordingService::dispatch(Held& h, const RecordingId& id, const Event& e) {
  auto current = load(h, id);
  if (!current) return current;
  return step(h, *current, e);
}

Result<Recording> RecordingService::step(Held& h, const Recording& current, const Event& e) {
  auto next = apply(current, e, rules_, now());
  if (!next) return std::unexpected(next.error());
  const bool save = worth_saving(e, *next);
  return commit(h, current, std::move(*next), save);
}

std::vector<NoticeBody> RecordingService::notices_of(const Recording& r, const std::vector<Effect>& effects) {
  std::vector<NoticeBody> out;
  for (const Effect& effect : effects) {
    if (const auto* pub = std::get_if<fx::Publish>(&effect)) {
      out.emplace_back(RecordingNotice{ports_.ids.next(), ports_.clock.wall_now(), pub->notice, r});
    } else if (const auto* alert = std::get_if<fx::Alert>(&effect)) {
      out.emplace_back(Alert{ports_.ids.next(), ports_.clock.wall_now(), alert->severity, alert->message, r.id, "recording"});
    }
  }
  return out;
}

Result<Recording> RecordingService::commit(Held& h, const Recording& before, Step step, bool save) {
  Recording& after = step.recording;
  if (!step.transition && step.effects.empty() && after == before) return after;
  after.revision = before.revision + 1;
  std::vector<NoticeBody> notices = notices_of(after, step.effects);
  std::optional<std::vector<NoticeBody>> committed;
  if (save || !notices.empty()) {
    auto persisted = persist(h, after, step.transition, std::move(notices));
    if (!persisted) return std::unexpected(persisted.error());
    committed = std::move(*persisted);
  }

  const RecordingId id = after.id;
  h.slot().current = std::make_shared<const Recording>(after);
  publish(h, h.slot().current);
  const bool released = is_live(before.state) && !is_live(after.state);
  if (released) ports_.scheduler.cancel_all(id);
  run_effects(h, after, step.effects);
  if (committed) announce(*committed);
  if (released) {
    auto waiting = std::move(h.slot().on_released);
    h.slot().on_released.clear();
    for (auto& done : waiting) done(after);
  }
  drain(h, id);
  return after;
}

Result<std::optional<std::vector<NoticeBody>>> RecordingService::persist(Held& h, const Recording& r,
                                                                         std::optional<Transition> transition,
                                                                         std::vector<NoticeBody> notices) {
  if (!h.slot().unsaved) h.slot().unsaved = std::make_unique<Unsaved>();
  Unsaved& pending = *h.slot().unsaved;
  const bool was_unsaved = pending.snapshot.has_value();
  pending.snapshot = r;
  if (transition) pending.events.push_back(RecordingEvent{r.id, ports_.clock.wall_now(), std::move(*transition)});
  std::ranges::move(notices, std::back_inserter(pending.notices));
  auto saved = ports_.repository.save(r, pending.events, pending.notices);
  if (saved) return saved_now(h, r.id, was_unsaved);
  if (saved.error().code == Errc::lease_lost) {
    // Fenced: another instance took the recording over. What this one held back is not
    // its to write any more.
    step_down(h, r.id, saved.error().message);
    return std::unexpected(saved.error());
  }
  if (saved.error().code == Errc::device_busy) {
    // A new capture on a device another instance records from: refused, nothing kept.
    h.slot().unsaved.reset();
    std::lock_guard lock(registry_mutex_);
    if (auto it = slots_.find(r.id); it != slots_.end()) it->second.unsaved = false;
    return std::unexpected(saved.error());
  }
  if (observer_) observer_->save_failed();
  if (!was_unsaved) {
    // The recording goes on in memory; its rows and notices are written with its next
    // change or by flush(). One alert per outage of a recording, not one per change: to
    // the log now, and into the outbox with the rows it is about.
    const std::string message = fmt::format(
        "Could not save recording {}: {}; it goes on and is saved when the database is back", r.id,
        saved.error().message);
    ports_.log.write(Severity::critical, message);
    pending.notices.emplace_back(Alert{ports_.ids.next(), ports_.clock.wall_now(), Severity::critical, message, r.id, "store"});
    std::lock_guard lock(registry_mutex_);
    slots_[r.id].unsaved = true;  // the caller holds the slot: the entry exists
  }
  return std::optional<std::vector<NoticeBody>>{};
}

std::vector<NoticeBody> RecordingService::saved_now(Held& h, const RecordingId& id, bool was_unsaved) {
  std::vector<NoticeBody> committed;
  if (h.slot().unsaved) committed = std::move(h.slot().unsaved->notices);
  h.slot().unsaved.reset();
  if (was_unsaved) {  // the common save touches no shared lock here
    std::lock_guard lock(registry_mutex_);
    if (auto it = slots_.find(id); it != slots_.end()) it->second.unsaved = false;
  }
  return committed;
}

void RecordingService::announce(const std::vector<NoticeBody>& notices) {
  for (const NoticeBody& n : notices) ports_.events.publish(n);
}

bool RecordingService::raise(std::vector<NoticeBody> notices) {
  // The batch is taken out under the lock and written without it: this lock spans
  // recordings (any of them may report), so it is never held across the store's I/O.
  std::vector<NoticeBody> batch;
  {
    std::lock_guard lock(pending_mutex_);
    batch = std::move(pending_);
    pending_.clear();
  }
  std::ranges::move(notices, std::back_inserter(batch));
  if (batch.empty()) return true;
  if (ports_.outbox.append(batch)) {
    announce(batch);
    return true;
  }
  // Held back for flush(), ahead of anything raised meanwhile.
  std::lock_guard lock(pending_mutex_);
  std::ranges::move(pending_, std::back_inserter(batch));
  pending_ = std::move(batch);
  return false;
}

void RecordingService::report(Severity severity, const std::string& message, std::optional<RecordingId> id) {
  ports_.log.write(severity, message);
  raise({Alert{ports_.ids.next(), ports_.clock.wall_now(), severity, message, std::move(id), "background"}});
}

std::size_t RecordingService::flush() {
  std::vector<std::string> keys;
  {
    std::lock_guard lock(registry_mutex_);
    for (const auto& [key, e] : slots_) {
      if (e.unsaved) keys.push_back(key);
    }
  }
  std::size_t left = 0;
  for (const std::string& key : keys) {
    Held h(*this, key);
    if (!h.slot().unsaved || !h.slot().unsaved->snapshot) continue;
    Unsaved& pending = *h.slot().unsaved;
    auto saved = ports_.repository.save(*pending.snapshot, pending.events, pending.notices);
    if (saved) announce(saved_now(h, key, true));
    else if (saved.error().code == Errc::lease_lost) step_down(h, key, saved.error().message);
    else ++left;
  }
  if (raise({})) return left;
  std::lock_guard lock(pending_mutex_);
  return left + pending_.size();
}

Result<RecoveryReport> RecordingService::recover() {
  auto unfinished = ports_.repository.find_unfinished();
  if (!unfinished) return std::unexpected(unfinished.error());
  return adopt(std::move(*unfinished));
}

RecoveryReport RecordingService::adopt(std::vector<Recording> claimed) {
  RecoveryReport report;
  for (Recording& r : claimed) {
    const RecordingId id = r.id;
    Held h(*this, id);
    if (auto taken = take_up(h, std::move(r)); taken) {
      ++report.recovered;
    } else {
      report.failed.push_back(taken.error());
    }
  }
  return report;
}

Result<void> RecordingService::take_up(Held& h, Recording r) {
  const RecordingId id = r.id;
  // Already taken up here (a client's start and the keeper's sweep may both have claimed it).
  if (const auto& cur = h.slot().current;
      cur && !is_terminal(cur->state) && cur->lease.instance == r.lease.instance && cur->lease.epoch >= r.lease.epoch)
    return ok();
  std::optional<ChunkLedger> ledger;
  if (r.kind == SourceKind::stream) {
    // Another instance may have written it since this process last looked.
    ports_.chunks.forget(r.id);
    auto scanned = ports_.chunks.scan(r.id);
    if (!scanned) {
      // Not knowing which bytes are intact, leave it untouched for the next start.
      Error e{scanned.error().code,
              fmt::format("recording {}: cannot verify its chunks: {}", r.id, scanned.error().message), r.id};
      report(Severity::critical, e.message, r.id);
      return std::unexpected(std::move(e));
    }
    ledger = std::move(*scanned);
  }
  if (is_live(r.state) && !r.meta.device.empty()) {
    std::lock_guard lock(live_mutex_);
    devices_.insert_or_assign(r.meta.device, id);
  }
  h.slot().current = std::make_shared<const Recording>(std::move(r));
  publish(h, h.slot().current);
  auto step = dispatch(h, id, ev::Recovered{std::move(ledger)});
  if (!step) return std::unexpected(step.error());
  return ok();
}

void RecordingService::step_down(const RecordingId& id, const std::string& why) {
  Held h(*this, id);
  step_down(h, id, why);
}

void RecordingService::step_down(Held& h, const RecordingId& id, const std::string& why) {
  Slot& slot = h.slot();
  const std::shared_ptr<const Recording> was = slot.current;
  if (slot.unsaved) {
    slot.unsaved.reset();
    std::lock_guard lock(registry_mutex_);
    if (auto it = slots_.find(id); it != slots_.end()) it->second.unsaved = false;
  }
  slot.queue.clear();
  slot.current.reset();
  if (!was) return;
  ports_.scheduler.cancel_all(id);
  // Whoever holds it now writes its chunks: nothing this process knows of them stays true.
  if (was->kind == SourceKind::stream) ports_.chunks.forget(id);
  if (was->kind == SourceKind::capture && is_live(was->state)) ports_.capture.stop(id);
  retire(h, *was);
  const Error lost{Errc::lease_lost, fmt::format("recording {} is held by another instance now: {}", id, why), id};
  auto waiting = std::move(slot.on_released);
  slot.on_released.clear();
  for (auto& done : waiting) done(std::unexpected(lost));
  ports_.log.write(Severity::warning, fmt::format("recording {}: this instance stepped down ({})", id, why));
}

std::vector<HeldLease> RecordingService::held_leases() const {
  std::vector<HeldLease> out;
  for (const auto& r : live_snapshots()) out.push_back(HeldLease{r->id, r->lease.epoch});
  return out;
}

void RecordingService::run_effects(Held& h, const Recording& r, const std::vector<Effect>& effects) {
  for (const Effect& effect : effects) {
    if (const auto* arm = std::get_if<fx::ArmDeadline>(&effect)) {
      ports_.scheduler.arm(r.id, arm->kind, arm->at);
    } else if (const auto* cancel = std::get_if<fx::CancelDeadline>(&effect)) {
      ports_.scheduler.cancel(r.id, cancel->kind);
    } else if (holds_alternative<fx::StartProducer>(effect)) {
      if (r.kind == SourceKind::capture) {
        ports_.capture.start(r);
      } else if (r.kind == SourceKind::agent) {
        if (auto sent = ports_.agents.send(r, AgentCommandKind::start_recording); !sent)
          h.slot().queue.emplace_back(ev::StartFailed{sent.error().message});
      }
    } else if (holds_alternative<fx::StopProducer>(effect)) {
      if (r.kind == SourceKind::capture) {
        ports_.capture.stop(r.id);
      } else if (r.kind == SourceKind::agent) {
        // The stop timeout alerts if the agent never confirms; say now why it may not.
        if (auto sent = ports_.agents.send(r, AgentCommandKind::stop_recording); !sent)
          ports_.log.write(Severity::warning, fmt::format("recording {}: the stop command was not sent: {}", r.id,
                                                          sent.error().message));
      }
    } else if (holds_alternative<fx::RotateSegment>(effect)) {
      ports_.capture.rotate(r.id);
    } else if (holds_alternative<fx::Finalize>(effect)) {
      ports_.finalizer.finalize(r, [this, id = r.id](Result<FinalizeResult> res) {
        on_finalize_done(id, std::move(res), false);
      });
    } else if (holds_alternative<fx::Process>(effect)) {
      ports_.finalizer.process(r, [this, id = r.id](Result<FinalizeResult> res) {
        on_finalize_done(id, std::move(res), true);
      });
    } else if (holds_alternative<fx::DeleteMedia>(effect)) {
      std::vector<Error> errors;
      if (r.kind == SourceKind::stream) {
        if (auto removed = ports_.chunks.remove(r.id); !removed) errors.push_back(removed.error());
      }
      if (auto removed = ports_.finalizer.remove(r); !removed) errors.push_back(removed.error());
      for (const Error& err : errors)
        report(Severity::warning,
               fmt::format("Deleting the media of recording {} left files behind: {}", r.id, err.message), r.id);
    }
    // fx::Alert and fx::Publish became notices, saved with the change (notices_of).
  }
}

void RecordingService::drain(Held& h, const RecordingId& id) {
  Slot& s = h.slot();
  if (s.draining) return;
  s.draining = true;
  while (!s.queue.empty()) {
    Event event = std::move(s.queue.front());
    s.queue.erase(s.queue.begin());
    if (auto done = dispatch(h, id, event); !done)
      report(Severity::warning, fmt::format("recording {}: {} could not be applied: {}", id, event_name(event),
                                            done.error().message),
             id);
  }
  s.draining = false;
}

void RecordingService::post(const RecordingId& id, Event e) {
  Result<Recording> done = [&] {
    Held h(*this, id);
    return dispatch(h, id, e);
  }();
  // A report that no longer fits (a late callback for a recording that has moved on) is a
  // warning; anything else (the store is unreadable) is critical.
  if (!done)
    report(done.error().code == Errc::invalid_state ? Severity::warning : Severity::critical,
           fmt::format("recording {}: {} could not be applied: {}", id, event_name(e), done.error().message), id);
}

void RecordingService::on_finalize_done(const RecordingId& id, Result<FinalizeResult> result, bool processing) {
  if (!result) {
    if (processing) return post(id, ev::ProcessingFailed{result.error().message});
    return post(id, ev::FinalizeFailed{result.error().message});
  }
  if (processing) return post(id, ev::Processed{std::move(result->files), result->duration_seconds});
  post(id, ev::Finalized{std::move(result->files), result->duration_seconds, result->needs_processing});
}

Result<StorageStatus> RecordingService::measure_storage() const {
  auto info = ports_.storage.probe();
  if (!info) return std::unexpected(info.error());
  return StorageStatus{*info, storage_policy_.level(*info), info->used_percent()};
}

Result<void> RecordingService::reserve_device(const std::string& device, const RecordingId& id) {
  if (device.empty()) return ok();
  std::lock_guard lock(live_mutex_);
  auto [it, inserted] = devices_.emplace(device, id);
  if (!inserted)
    return fail(Errc::device_busy, fmt::format("device '{}' is already recording (session {})", device, it->second),
                it->second);
  return ok();
}

void RecordingService::release_device(const std::string& device, const RecordingId& id) {
  std::lock_guard lock(live_mutex_);
  if (auto it = devices_.find(device); it != devices_.end() && it->second == id) devices_.erase(it);
}

Result<void> RecordingService::admit_storage(std::optional<Seconds> capture_duration) const {
  // As in seed 003, a disk that cannot be measured does not stop a recording from starting.
  auto status = measure_storage();
  if (!status) return ok();
  if (status->level == StorageLevel::block)
    return fail(Errc::storage_critical,
                fmt::format("Storage space is critical: {:.1f}% used, new recordings are refused at {}%",
                            status->used_percent, storage_policy_.block_percent));
  // -1008: at or above warn, a capture whose requested duration would not fit before the
  // block threshold (at capture_bytes_per_second) is refused rather than cut short.
  if (status->level == StorageLevel::warn && capture_duration) {
    const auto needed = static_cast<std::uint64_t>(capture_duration->count()) * storage_policy_.capture_bytes_per_second;
    const auto room = storage_policy_.headroom(status->info);
    if (needed > room)
      return fail(Errc::storage_low,
                  fmt::format("Storage space is low: {:.1f}% used; {} s of capture needs about {} MB, {} MB are left "
                              "before new recordings are refused",
                              status->used_percent, capture_duration->count(), needed / 1000000, room / 1000000));
  }
  return ok();
}

Result<Recording> RecordingService::create(Held& h, NewRecording spec, bool start_producer) {
  const Now t = now();
  Recording r = make_recording(std::move(spec), t);
  std::vector<Effect> effects;
  if (start_producer) {
    r.start_attempts = 1;
    effects = {fx::StartProducer{}, fx::ArmDeadline{DeadlineKind::start_timeout, t.mono + rules_.start_timeout}};
  }
  if (ports_.leases) r.lease = LeaseHolder{ports_.leases->instance(), 1};
  auto committed = persist(h, r, Transition{State::starting, State::starting, "created", StopReason::none, ""}, {});
  if (!committed) return std::unexpected(committed.error());  // the id is another instance's
  if (*committed) announce(**committed);
  h.slot().current = std::make_shared<const Recording>(r);
  publish(h, h.slot().current);
  run_effects(h, r, effects);
  drain(h, r.id);
  return *h.slot().current;
}

Result<StreamStarted> RecordingService::start_stream(const StreamStart& cmd) {
  if (!cmd.id.empty()) {
    if (auto valid = check_recording_id(cmd.id); !valid) return std::unexpected(valid.error());
  }
  if (cmd.ids == StreamIds::session && !cmd.id.empty()) {
    // Seed 002: a session records again after a stop; its later recordings get -2, -3, ...
    for (int n = 1; n <= 1000; ++n) {
      const RecordingId id = n == 1 ? cmd.id : fmt::format("{}-{}", cmd.id, n);
      auto started = start_stream_as(id, cmd);
      if (started || started.error().code != Errc::id_taken) return started;
    }
    return fail(Errc::id_taken, fmt::format("session {} has no free recording id left (1000 recordings)", cmd.id));
  }
  return start_stream_as(cmd.id.empty() ? ports_.ids.next() : cmd.id, cmd);
}

Result<StreamStarted> RecordingService::start_stream_as(const RecordingId& id, const StreamStart& cmd) {
  Held h(*this, id);
  if (h.slot().current && !is_terminal(h.slot().current->state)) {
    const Recording& existing = *h.slot().current;
    if (existing.kind != SourceKind::stream)
      return fail(Errc::id_taken, fmt::format("id '{}' belongs to a {} recording", id, to_string(existing.kind)));
    auto resumed = dispatch(h, id, ev::Resumed{});
    // A session moves on past a recording that has stopped; a client naming its id does not.
    if (!resumed)
      return fail(cmd.ids == StreamIds::session ? Errc::id_taken : Errc::invalid_state,
                  fmt::format("recording {} is {}: it can no longer be resumed", id, to_string(existing.state)));
    return StreamStarted{*resumed, true, resumed->ledger.next_index(), resumed->ledger.missing()};
  }
  if (!cmd.id.empty()) {
    // A client's id must not overwrite the rows of a recording that has ended.
    auto stored = h.slot().current ? Result<std::optional<Recording>>(std::optional<Recording>(*h.slot().current))
                                   : ports_.repository.find(id);
    if (stored && *stored && !is_terminal((*stored)->state) && ports_.leases) {
      // Recorded through another instance: resumed here once this one holds its lease.
      if ((*stored)->kind != SourceKind::stream)
        return fail(Errc::id_taken, fmt::format("id '{}' belongs to a {} recording", id, to_string((*stored)->kind)));
      if (auto here = bring_here(h, **stored); !here) return std::unexpected(here.error());
      if (h.slot().current) {
        auto resumed = dispatch(h, id, ev::Resumed{});
        if (!resumed)
          return fail(Errc::invalid_state, fmt::format("recording {} is {}: it can no longer be resumed", id,
                                                       to_string(h.slot().current ? h.slot().current->state
                                                                                  : (*stored)->state)));
        return StreamStarted{*resumed, true, resumed->ledger.next_index(), resumed->ledger.missing()};
      }
      stored = ports_.repository.find(id);  // it ended meanwhile
    }
    if (!stored) {
      // The database is down: the chunk store, the truth for bytes, still tells whether
      // this id has media. An id without any is free enough to record now.
      auto held = ports_.chunks.scan(id);
      if (!held || !held->empty())
        return fail(stored.error().code,
                    fmt::format("cannot tell whether recording id '{}' is free: {}", id, stored.error().message));
    } else if (*stored)
      return fail(Errc::id_taken, fmt::format("recording {} has already ended ({}); start a new recording "
                                              "with another id",
                                              id, to_string((*stored)->state)));
  }
  if (auto admitted = admit_storage(std::nullopt); !admitted) return std::unexpected(admitted.error());
  NewRecording spec;
  spec.id = id;
  spec.kind = SourceKind::stream;
  spec.meta.owner = cmd.owner;
  spec.meta.mime_type = cmd.mime_type;
  spec.format = cmd.format;
  spec.limits = cmd.limits;
  auto created = create(h, std::move(spec), false);
  if (!created) return std::unexpected(created.error());
  auto started = dispatch(h, id, ev::Started{});
  if (!started) return std::unexpected(started.error());
  return StreamStarted{*started, false, 0, {}};
}

Result<ChunkAck> RecordingService::receive_chunk(const RecordingId& id, std::optional<ChunkIndex> index,
                                                 std::span<const std::byte> bytes) {
  Held h(*this, id);
  // Among several instances, media goes only to a recording this one holds: one read from
  // the store may be live on another (this one stepped down from it).
  if (ports_.leases && (!h.slot().current || is_terminal(h.slot().current->state))) {
    auto stored = ports_.repository.find(id);
    if (stored && *stored && !is_terminal((**stored).state))
      return fail(Errc::lease_lost, fmt::format("recording {} is not held by instance {} (it is live on '{}'); send "
                                                "'start' with its id to resume it here",
                                                id, ports_.leases->instance(), (**stored).lease.instance));
  }
  auto current = load(h, id);
  if (!current) {
    if (current.error().code == Errc::not_found)
      return fail(Errc::not_started, fmt::format("Recording not started: no recording '{}'. Send 'start' first", id));
    return std::unexpected(current.error());
  }
  auto admission = admit_chunk(*current, index, bytes.size(), rules_, now());
  if (!admission) {
    // A breach of the recording's limits ends it; what it already holds is finalized.
    if (current->state == State::recording) {
      std::optional<Event> end;
      if (admission.error().code == Errc::total_size_exceeded) end = ev::StopRequested{StopReason::size_limit};
      if (admission.error().code == Errc::duration_exceeded) end = ev::DeadlineReached{DeadlineKind::limit};
      if (end) {
        if (auto stopped = dispatch(h, id, *end); !stopped)
          report(Severity::critical, fmt::format("recording {} passed a limit but could not be stopped: {}", id,
                                                 stopped.error().message),
                 id);
      }
    }
    return std::unexpected(admission.error());
  }
  if (admission->duplicate) return ChunkAck{id, admission->index, bytes.size(), true};

  // An instance that cannot confirm its leases (paused, or cut off from the database for
  // longer than a lease) writes no media: another instance may hold the recording now.
  if (ports_.leases) {
    if (auto held = ports_.leases->confirmed(); !held) return std::unexpected(held.error());
  }
  // The recording's own lock is held across the write: nothing else of this recording can
  // move in between, and other recordings write in parallel.
  const MonoTime writing = ports_.clock.monotonic_now();
  if (auto stored = ports_.chunks.put(id, admission->index, bytes); !stored) return std::unexpected(stored.error());
  if (observer_)
    observer_->chunk_stored(current->kind, bytes.size(),
                            std::chrono::duration_cast<Duration>(ports_.clock.monotonic_now() - writing));
  auto after = step(h, *current, ev::ChunkStored{admission->index, bytes.size()});
  if (!after)
    return fail(after.error().code, fmt::format("chunk {} was written, but {}", admission->index, after.error().message));
  return ChunkAck{id, admission->index, bytes.size(), false};
}

void RecordingService::stream_disconnected(const RecordingId& id) {
  if (!snapshot(id)) return;
  post(id, ev::Disconnected{});
}

Result<Recording> RecordingService::start_capture(const CaptureStart& cmd) {
  if (cmd.device.empty()) return fail(Errc::invalid_argument, "a capture needs a device");
  const RecordingId id = ports_.ids.next();
  if (auto reserved = reserve_device(cmd.device, id); !reserved) return std::unexpected(reserved.error());
  if (auto admitted = admit_storage(cmd.duration); !admitted) {
    release_device(cmd.device, id);
    return std::unexpected(admitted.error());
  }
  NewRecording spec;
  spec.id = id;
  spec.kind = SourceKind::capture;
  spec.meta.device = cmd.device;
  spec.meta.owner = cmd.owner;
  spec.meta.session_id = cmd.session_id;
  spec.meta.notify = cmd.notify;
  spec.format = cmd.format;
  spec.expected_duration = cmd.duration;
  Held h(*this, id);
  auto created = create(h, std::move(spec), true);
  if (!created) release_device(cmd.device, id);
  return created;
}

void RecordingService::on_capture_started(const RecordingId& id) { post(id, ev::Started{}); }
void RecordingService::on_capture_start_failed(const RecordingId& id, const std::string& error) {
  post(id, ev::StartFailed{error});
}
void RecordingService::on_segment_opened(const RecordingId& id, const std::string& path) {
  post(id, ev::SegmentOpened{path});
}
void RecordingService::on_segment_closed(const RecordingId& id, const MediaFile& file) {
  post(id, ev::SegmentClosed{file});
}
void RecordingService::on_capture_stopped(const RecordingId& id) { post(id, ev::StopConfirmed{}); }
void RecordingService::on_capture_failed(const RecordingId& id, const std::string& error) {
  post(id, ev::ProducerFailed{error});
}

Result<Recording> RecordingService::start_agent_recording(const AgentStart& cmd) {
  if (cmd.agent_id.empty() || cmd.subject.empty() || cmd.organizer.empty() || cmd.start_time.empty())
    return fail(Errc::invalid_argument, "an agent recording needs agent_id, subject, organizer and start_time");
  auto start_time = normalize_start_time(cmd.start_time);
  if (!start_time) return std::unexpected(start_time.error());
  // Refused rather than queued: a command that waits for an agent to come back would start
  // a meeting's recording at some unknown later time (docs/protocol.md, section 5).
  if (!ports_.agents.connected(cmd.agent_id))
    return fail(Errc::agent_unavailable,
                fmt::format("agent '{}' is not connected: it cannot be told to start recording", cmd.agent_id));
  const RecordingId id = ports_.ids.next();
  if (auto reserved = reserve_device(cmd.agent_id, id); !reserved) return std::unexpected(reserved.error());
  if (auto admitted = admit_storage(std::nullopt); !admitted) {
    release_device(cmd.agent_id, id);
    return std::unexpected(admitted.error());
  }
  NewRecording spec;
  spec.id = id;
  spec.kind = SourceKind::agent;
  spec.meta.subject = cmd.subject;
  spec.meta.organizer = cmd.organizer;
  spec.meta.start_time = *start_time;
  spec.meta.agent_id = cmd.agent_id;
  spec.meta.device = cmd.agent_id;
  spec.meta.session_id = cmd.session_id;
  spec.meta.notify = cmd.notify;
  spec.expected_duration = cmd.expected_duration;
  spec.remote_triggered = true;
  Held h(*this, id);
  return create(h, std::move(spec), true);
}

Result<Recording> RecordingService::agent_event(const AgentReport& report, const Event& e) {
  if (report.agent_id.empty() || report.subject.empty() || report.organizer.empty() || report.start_time.empty())
    return fail(Errc::invalid_argument, "an agent report needs subject, organizer and start_time (and an agent_id)");
  auto start_time = normalize_start_time(report.start_time);
  if (!start_time) return std::unexpected(start_time.error());
  Metadata meta;
  meta.subject = report.subject;
  meta.organizer = report.organizer;
  meta.start_time = *start_time;
  meta.agent_id = report.agent_id;
  meta.device = report.agent_id;
  const std::string key = agent_key(meta);
  // Reports for one meeting are taken one at a time, so that two of them cannot both
  // adopt it as new.
  Held for_key(*this, agent_slot(key));

  std::optional<RecordingId> id;
  {
    std::lock_guard lock(live_mutex_);
    if (auto it = agent_keys_.find(key); it != agent_keys_.end()) id = it->second;
  }
  if (!id) {
    auto stored = ports_.repository.find_by_agent_key(key);
    if (stored && *stored) id = (*stored)->id;
  }
  if (!id) {
    // A recording started on the agent itself (or whose start_confirmed was lost).
    const RecordingId new_id = ports_.ids.next();
    {
      std::lock_guard lock(live_mutex_);
      devices_.emplace(meta.device, new_id);  // kept by an earlier live recording of the agent, if any
    }
    NewRecording spec;
    spec.id = new_id;
    spec.kind = SourceKind::agent;
    spec.meta = meta;
    spec.expected_duration = report.duration_expected;
    Held h(*this, new_id);
    auto created = create(h, std::move(spec), false);
    if (!created) return created;
    auto started = dispatch(h, new_id, ev::Started{report.timestamp});
    if (!started || holds<ev::Started>(e)) return started;
    return dispatch(h, new_id, e);
  }
  Held h(*this, *id);
  // An agent that reconnected through another instance: its recording follows it here.
  if (auto here = follow(h, *id); !here) return std::unexpected(here.error());
  if (holds<ev::StatusReported>(e)) {
    // A status while recorderd still waits for start_confirmed: the agent records, so the
    // confirmation was lost; take the status as one.
    auto current = load(h, *id);
    if (current && current->state == State::starting) {
      if (auto started = dispatch(h, *id, ev::Started{report.timestamp}); !started) return started;
    }
  }
  return dispatch(h, *id, e);
}

Result<Recording> RecordingService::agent_start_confirmed(const AgentReport& report) {
  return agent_event(report, ev::Started{report.timestamp});
}

Result<Recording> RecordingService::agent_status(const AgentReport& report) {
  return agent_event(report, ev::StatusReported{AgentReportState{report.status, report.elapsed, report.remaining,
                                                                  report.timestamp}});
}

Result<Recording> RecordingService::agent_stop_confirmed(const AgentReport& report) {
  return agent_event(report,
                     ev::StopConfirmed{report.success, report.reason, report.duration_actual, report.duration_expected,
                                       report.timestamp});
}

Result<Recording> RecordingService::agent_premature_stop(const AgentReport& report) {
  const StopReason reason = report.reason == StopReason::none ? StopReason::premature : report.reason;
  return agent_event(report, ev::PrematureStopReported{reason, report.duration_actual, report.duration_expected,
                                                       report.reason_text, report.timestamp});
}

Result<Recording> RecordingService::attach_video(const RecordingId& id, const UploadedVideo& video) {
  if (video.url.empty()) return fail(Errc::invalid_argument, "video_url: required");
  Held h(*this, id);
  if (auto here = follow(h, id); !here) return std::unexpected(here.error());
  return dispatch(h, id, ev::VideoAttached{video});
}

Result<Recording> RecordingService::fail_upload(const RecordingId& id, const std::string& error) {
  if (error.empty()) return fail(Errc::invalid_argument, "error: required (what went wrong with the upload)");
  Held h(*this, id);
  if (auto here = follow(h, id); !here) return std::unexpected(here.error());
  return dispatch(h, id, ev::UploadFailed{error});
}

Result<Recording> RecordingService::resolve(const std::string& id_or_session) const {
  auto found = get(id_or_session);
  if (found || found.error().code != Errc::not_found) return found;
  RecordingQuery q;
  q.session_id = id_or_session;
  q.limit = 1;
  auto by_session = list(q);
  if (!by_session) return std::unexpected(by_session.error());
  if (by_session->empty())
    return fail(Errc::not_found, fmt::format("no recording with id or session_id '{}'", id_or_session));
  return std::move(by_session->front());
}

void RecordingService::agent_presence(const std::string& agent_id, bool connected, const std::string& detail) {
  raise({AgentNotice{ports_.ids.next(), ports_.clock.wall_now(), agent_id, connected, detail}});
}

Result<Recording> RecordingService::stop(const RecordingId& id, StopReason reason) {
  Held h(*this, id);
  auto elsewhere = held_elsewhere(h, id);
  if (!elsewhere) return std::unexpected(elsewhere.error());
  if (*elsewhere) {
    // Live on another instance: its holder stops it (its client, its pipeline are there),
    // unless its lease expired, when this instance takes it over and stops it here.
    auto claimed = ports_.leases->claim(id);
    if (!claimed && claimed.error().code != Errc::lease_lost) return std::unexpected(claimed.error());
    if (!claimed) {
      auto stopped = ports_.leases->ask_holder(**elsewhere, CommandKind::stop, std::string(to_string(reason)));
      if (!stopped) return std::unexpected(stopped.error());
      return get(id);
    }
    if (*claimed) {
      if (auto taken = take_up(h, std::move(**claimed)); !taken) return std::unexpected(taken.error());
    }
  }
  return dispatch(h, id, ev::StopRequested{reason});
}

Result<std::optional<Recording>> RecordingService::held_elsewhere(Held& h, const RecordingId& id) {
  if (!ports_.leases || h.slot().current) return std::optional<Recording>{};
  auto stored = ports_.repository.find(id);
  if (!stored) return std::unexpected(stored.error());
  if (!*stored || is_terminal((*stored)->state) || (*stored)->lease.instance.empty() ||
      (*stored)->lease.instance == ports_.leases->instance())
    return std::optional<Recording>{};
  return stored;
}

Result<void> RecordingService::follow(Held& h, const RecordingId& id) {
  auto elsewhere = held_elsewhere(h, id);
  if (!elsewhere) return std::unexpected(elsewhere.error());
  if (!*elsewhere) return ok();
  return bring_here(h, **elsewhere);
}

Result<void> RecordingService::bring_here(Held& h, const Recording& stored) {
  // Held under this instance's id but not in memory (its take-up failed): taken up again.
  if (stored.lease.instance == ports_.leases->instance()) return take_up(h, stored);
  auto claimed = ports_.leases->claim(stored.id);
  if (claimed) {
    if (!*claimed) return ok();  // it ended meanwhile
    return take_up(h, std::move(**claimed));
  }
  if (claimed.error().code != Errc::lease_lost) return std::unexpected(claimed.error());
  // Its holder is alive: it is asked to hand the recording over.
  if (auto handed = ports_.leases->ask_holder(stored, CommandKind::release, ports_.leases->instance()); !handed)
    return fail(handed.error().code == Errc::unavailable ? Errc::lease_lost : handed.error().code,
                fmt::format("{}; asked to hand it over: {}", claimed.error().message, handed.error().message),
                stored.id);
  auto now_stored = ports_.repository.find(stored.id);
  if (!now_stored) return std::unexpected(now_stored.error());
  if (!*now_stored || is_terminal((*now_stored)->state)) return ok();
  if ((*now_stored)->lease.instance != ports_.leases->instance())
    return fail(Errc::lease_lost, fmt::format("recording {} was handed over, but instance '{}' holds it now", stored.id,
                                              (*now_stored)->lease.instance),
                stored.id);
  return take_up(h, std::move(**now_stored));
}

void RecordingService::when_released(const RecordingId& id, std::function<void(Result<Recording>)> done) {
  Result<Recording> now_ = [&]() -> Result<Recording> {
    Held h(*this, id);
    auto current = load(h, id);
    // Only what this instance holds is released here; one held by another instance is
    // answered with what the store says now.
    if (current && is_live(current->state) && h.slot().current) {
      h.slot().on_released.push_back(std::move(done));
      done = nullptr;
    }
    return current;
  }();
  if (done) done(std::move(now_));
}

Result<Recording> RecordingService::remove(const RecordingId& id) {
  Held h(*this, id);
  return dispatch(h, id, ev::DeleteRequested{});
}

Result<Recording> RecordingService::get(const RecordingId& id) const {
  if (auto live = snapshot(id)) return std::move(*live);
  auto stored = ports_.repository.find(id);
  if (!stored) return std::unexpected(stored.error());
  if (!*stored) return fail(Errc::not_found, fmt::format("no recording with id '{}'", id));
  return std::move(**stored);
}

std::vector<std::shared_ptr<const Recording>> RecordingService::live_snapshots() const {
  std::vector<std::shared_ptr<LiveCell>> cells;
  {
    std::lock_guard lock(live_mutex_);
    cells.reserve(live_.size());
    for (const auto& [id, cell] : live_) cells.push_back(cell);
  }
  std::vector<std::shared_ptr<const Recording>> out;
  out.reserve(cells.size());
  for (const auto& cell : cells) out.push_back(cell->load());
  return out;
}

std::vector<Recording> RecordingService::live() const {
  // The (immutable) snapshots are taken under the lock and copied after it.
  const auto snaps = live_snapshots();
  std::vector<Recording> out;
  out.reserve(snaps.size());
  for (const auto& r : snaps) out.push_back(*r);
  std::ranges::sort(out, {}, &Recording::created_at);
  return out;
}

Result<std::vector<RecordingEvent>> RecordingService::history(const RecordingId& id) const {
  return ports_.repository.events(id);
}

Result<std::vector<Recording>> RecordingService::list(const RecordingQuery& q) const {
  auto stored = ports_.repository.list(q);
  if (!stored) return stored;
  // Live recordings are newer in memory than in their rows (chunks are not saved one by one).
  // One pass under the readers' lock for the whole page, copies after it.
  std::vector<std::shared_ptr<LiveCell>> cells(stored->size());
  {
    std::lock_guard lock(live_mutex_);
    for (std::size_t i = 0; i < stored->size(); ++i) {
      if (auto it = live_.find((*stored)[i].id); it != live_.end()) cells[i] = it->second;
    }
  }
  for (std::size_t i = 0; i < stored->size(); ++i) {
    if (cells[i]) (*stored)[i] = *cells[i]->load();
  }
  return stored;
}

std::optional<Recording> RecordingService::live_on(const std::string& device) const {
  std::shared_ptr<LiveCell> cell;
  {
    std::lock_guard lock(live_mutex_);
    auto it = devices_.find(device);
    if (it == devices_.end()) return std::nullopt;
    auto r = live_.find(it->second);
    if (r == live_.end()) return std::nullopt;
    cell = r->second;
  }
  return *cell->load();
}

double RecordingService::elapsed_seconds(const Recording& r) const {
  if (!r.started_at) return 0.0;
  const WallTime end = is_live(r.state) || !r.stopped_at ? ports_.clock.wall_now() : *r.stopped_at;
  return std::max(0.0, std::chrono::duration<double>(end - *r.started_at).count());
}

void RecordingService::on_deadline(const RecordingId& id, DeadlineKind kind) {
  if (!snapshot(id)) return;
  post(id, ev::DeadlineReached{kind});
}

Result<StorageStatus> RecordingService::storage_status() const { return measure_storage(); }

Result<void> RecordingService::store_reachable() const { return ports_.repository.ping(); }

Result<StorageStatus> RecordingService::check_storage(bool announce) {
  std::lock_guard lock(storage_mutex_);
  auto status = measure_storage();
  if (!status) {
    if (!storage_failing_) report(Severity::critical, fmt::format("Cannot measure storage: {}", status.error().message));
    storage_failing_ = true;
    return status;
  }
  storage_failing_ = false;
  if (status->level != storage_level_) {
    storage_level_ = status->level;
    const WallTime at = ports_.clock.wall_now();
    const Severity severity = status->level == StorageLevel::block  ? Severity::critical
                              : status->level == StorageLevel::warn ? Severity::warning
                                                                    : Severity::info;
    const std::string message =
        fmt::format("Storage {:.1f}% used: level {} (warn at {}%, block at {}%)", status->used_percent,
                    to_string(status->level), storage_policy_.warn_percent, storage_policy_.block_percent);
    if (status->level != StorageLevel::normal) ports_.log.write(severity, message);
    if (announce)
      raise({StorageNotice{ports_.ids.next(), at, status->level, status->used_percent},
             Alert{ports_.ids.next(), at, severity, message, std::nullopt, "storage"}});
  }
  if (status->level == StorageLevel::block) {
    // Agents record on their own disks; streams and captures write to ours.
    std::vector<RecordingId> running;
    for (const auto& r : live_snapshots()) {
      if (r->kind != SourceKind::agent && is_live(r->state) && r->state != State::stopping) running.push_back(r->id);
    }
    for (const RecordingId& id : running) {
      Held h(*this, id);
      if (auto stopped = dispatch(h, id, ev::StopRequested{StopReason::storage_critical}); !stopped)
        ports_.log.write(Severity::warning, fmt::format("recording {} was not stopped at the storage block: {}", id,
                                                        stopped.error().message));
    }
  }
  return status;
}

void RecordingService::shutdown() {
  std::vector<RecordingId> captures;
  for (const auto& r : live_snapshots()) {
    if (r->kind == SourceKind::capture && is_live(r->state) && r->state != State::stopping) captures.push_back(r->id);
  }
  for (const RecordingId& id : captures) {
    Held h(*this, id);
    if (auto stopped = dispatch(h, id, ev::StopRequested{StopReason::shutdown}); !stopped)
      ports_.log.write(Severity::warning,
                       fmt::format("capture {} was not stopped at shutdown: {}", id, stopped.error().message));
  }
}

}  // namespace recorder::core
