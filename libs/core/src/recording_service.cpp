#include "recorder/core/app/recording_service.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace recorder::core {
namespace {

template <typename T>
bool holds(const Event& e) {
  return std::holds_alternative<T>(e);
}

// Chunks and periodic agent reports change only the ledger or the last-activity time:
// the chunk store holds the truth for the first, and the second is not worth a write
// every five seconds. Everything else is saved as it happens.
bool worth_saving(const Event& e, const Step& step) {
  if (step.transition) return true;
  return !holds<ev::ChunkStored>(e) && !holds<ev::StatusReported>(e);
}

}  // namespace

RecordingService::RecordingService(Ports ports, Rules rules, StoragePolicy storage)
    : ports_(ports), rules_(rules), storage_policy_(storage) {}

Now RecordingService::now() const { return Now{ports_.clock.monotonic_now(), ports_.clock.wall_now()}; }

Recording* RecordingService::find_live(const RecordingId& id) {
  auto it = live_.find(id);
  return it == live_.end() ? nullptr : &it->second;
}

Result<Recording> RecordingService::find_any(const RecordingId& id) {
  if (Recording* r = find_live(id)) return *r;
  auto stored = ports_.repository.find(id);
  if (!stored) return std::unexpected(stored.error());
  if (!*stored) return fail(Errc::not_found, fmt::format("no recording with id '{}'", id));
  return std::move(**stored);
}

Result<Recording> RecordingService::dispatch(Lock& lock, const RecordingId& id, const Event& e) {
  auto current = find_any(id);
  if (!current) return current;
  auto step = apply(*current, e, rules_, now());
  if (!step) return std::unexpected(step.error());
  const bool save = worth_saving(e, *step);
  return commit(lock, *current, std::move(*step), save);
}

Result<Recording> RecordingService::commit(Lock& lock, const Recording& before, Step step, bool save) {
  Recording& after = step.recording;
  if (!step.transition && step.effects.empty() && after == before) return after;
  if (save) (void)persist(after, step.transition);
  const RecordingId id = after.id;
  if (is_terminal(after.state)) {
    live_.erase(id);
  } else {
    live_.insert_or_assign(id, after);
  }
  if (!is_live(after.state)) {
    if (auto it = devices_.find(after.meta.device); it != devices_.end() && it->second == id) devices_.erase(it);
    if (is_live(before.state)) ports_.scheduler.cancel_all(id);
  }
  run_effects(lock, after, step.effects);
  drain(lock);
  return after;
}

Result<void> RecordingService::persist(const Recording& r, std::optional<Transition> transition) {
  Unsaved& pending = unsaved_[r.id];
  pending.snapshot = r;
  if (transition) pending.events.push_back(RecordingEvent{r.id, ports_.clock.wall_now(), std::move(*transition)});
  auto saved = ports_.repository.save(r, pending.events);
  if (saved) {
    unsaved_.erase(r.id);
    return ok();
  }
  // The recording goes on in memory; its rows are written with its next change or by
  // flush(). One alert per outage of a recording, not one per change.
  if (pending.events.size() <= 1) {
    ports_.alerts.alert(Alert{ports_.ids.next(), ports_.clock.wall_now(), Severity::critical,
                              fmt::format("Could not save recording {}: {}; it goes on and is saved when the "
                                          "database is back",
                                          r.id, saved.error().message),
                              r.id});
  }
  return saved;
}

std::size_t RecordingService::flush() {
  Lock lock(mutex_);
  for (auto it = unsaved_.begin(); it != unsaved_.end();) {
    if (ports_.repository.save(it->second.snapshot, it->second.events)) {
      it = unsaved_.erase(it);
    } else {
      ++it;
    }
  }
  return unsaved_.size();
}

Result<RecoveryReport> RecordingService::recover() {
  Lock lock(mutex_);
  auto unfinished = ports_.repository.find_unfinished();
  if (!unfinished) return std::unexpected(unfinished.error());
  RecoveryReport report;
  for (Recording& r : *unfinished) {
    std::optional<ChunkLedger> ledger;
    if (r.kind == SourceKind::stream) {
      auto scanned = ports_.chunks.scan(r.id);
      if (!scanned) {
        // Not knowing which bytes are intact, leave it untouched for the next start.
        report.failed.push_back(Error{scanned.error().code,
                                      fmt::format("recording {}: cannot verify its chunks: {}", r.id,
                                                  scanned.error().message),
                                      r.id});
        ports_.alerts.alert(Alert{ports_.ids.next(), ports_.clock.wall_now(), Severity::critical,
                                  report.failed.back().message, r.id});
        continue;
      }
      ledger = std::move(*scanned);
    }
    const RecordingId id = r.id;
    if (is_live(r.state) && !r.meta.device.empty()) devices_.emplace(r.meta.device, id);
    live_.insert_or_assign(id, std::move(r));
    if (auto step = dispatch(lock, id, ev::Recovered{std::move(ledger)}); step) {
      ++report.recovered;
    } else {
      report.failed.push_back(step.error());
    }
  }
  return report;
}

void RecordingService::run_effects(Lock&, const Recording& r, const std::vector<Effect>& effects) {
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
          queue_.emplace_back(r.id, ev::StartFailed{sent.error().message});
      }
    } else if (holds_alternative<fx::StopProducer>(effect)) {
      if (r.kind == SourceKind::capture) {
        ports_.capture.stop(r.id);
      } else if (r.kind == SourceKind::agent) {
        // An agent that cannot be told is caught by the stop timeout, which alerts.
        (void)ports_.agents.send(r, AgentCommandKind::stop_recording);
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
      for (const Error& err : errors) {
        ports_.alerts.alert(Alert{ports_.ids.next(), ports_.clock.wall_now(), Severity::warning,
                                  fmt::format("Deleting the media of recording {} left files behind: {}", r.id,
                                              err.message),
                                  r.id});
      }
    } else if (const auto* alert = std::get_if<fx::Alert>(&effect)) {
      ports_.alerts.alert(Alert{ports_.ids.next(), ports_.clock.wall_now(), alert->severity, alert->message, r.id});
    } else if (const auto* pub = std::get_if<fx::Publish>(&effect)) {
      ports_.events.publish(RecordingNotice{ports_.ids.next(), ports_.clock.wall_now(), pub->notice, r});
    }
  }
}

void RecordingService::drain(Lock& lock) {
  if (draining_) return;
  draining_ = true;
  while (!queue_.empty()) {
    auto [id, event] = std::move(queue_.front());
    queue_.pop_front();
    (void)dispatch(lock, id, event);
  }
  draining_ = false;
}

void RecordingService::post(const RecordingId& id, Event e) {
  Lock lock(mutex_);
  (void)dispatch(lock, id, e);
}

void RecordingService::on_finalize_done(const RecordingId& id, Result<FinalizeResult> result, bool processing) {
  if (!result) {
    if (processing) return post(id, ev::ProcessingFailed{result.error().message});
    return post(id, ev::FinalizeFailed{result.error().message});
  }
  if (processing) return post(id, ev::Processed{std::move(result->files), result->duration_seconds});
  post(id, ev::Finalized{std::move(result->files), result->duration_seconds, result->needs_processing});
}

Result<StorageStatus> RecordingService::measure_storage() {
  auto info = ports_.storage.probe();
  if (!info) return std::unexpected(info.error());
  return StorageStatus{*info, storage_policy_.level(*info), info->used_percent()};
}

Result<void> RecordingService::admit_new(const std::string& device, std::optional<Seconds> capture_duration) {
  if (!device.empty()) {
    if (auto it = devices_.find(device); it != devices_.end())
      return fail(Errc::device_busy,
                  fmt::format("device '{}' is already recording (session {})", device, it->second), it->second);
  }
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

Result<Recording> RecordingService::create(Lock& lock, NewRecording spec, bool start_producer) {
  const Now t = now();
  Recording r = make_recording(std::move(spec), t);
  std::vector<Effect> effects;
  if (start_producer) {
    r.start_attempts = 1;
    effects = {fx::StartProducer{}, fx::ArmDeadline{DeadlineKind::start_timeout, t.mono + rules_.start_timeout}};
  }
  (void)persist(r, Transition{State::starting, State::starting, "created", StopReason::none, ""});
  live_.insert_or_assign(r.id, r);
  if (!r.meta.device.empty()) devices_.emplace(r.meta.device, r.id);
  run_effects(lock, r, effects);
  drain(lock);
  return find_any(r.id);
}

Result<StreamStarted> RecordingService::start_stream(const StreamStart& cmd) {
  Lock lock(mutex_);
  if (!cmd.id.empty()) {
    if (Recording* existing = find_live(cmd.id)) {
      if (existing->kind != SourceKind::stream)
        return fail(Errc::invalid_state,
                    fmt::format("id '{}' belongs to a {} recording", cmd.id, to_string(existing->kind)));
      auto resumed = dispatch(lock, cmd.id, ev::Resumed{});
      if (!resumed)
        return fail(Errc::invalid_state,
                    fmt::format("recording {} is {}: it can no longer be resumed", cmd.id, to_string(existing->state)));
      return StreamStarted{*resumed, true, resumed->ledger.next_index(), resumed->ledger.missing()};
    }
    if (auto stored = ports_.repository.find(cmd.id); stored && *stored)
      return fail(Errc::invalid_state, fmt::format("recording {} has already ended ({}); start a new recording "
                                                   "with another id",
                                                   cmd.id, to_string((*stored)->state)));
  }
  if (auto admitted = admit_new(""); !admitted) return std::unexpected(admitted.error());
  NewRecording spec;
  spec.id = cmd.id.empty() ? ports_.ids.next() : cmd.id;
  spec.kind = SourceKind::stream;
  spec.meta.owner = cmd.owner;
  spec.meta.mime_type = cmd.mime_type;
  spec.format = cmd.format;
  spec.limits = cmd.limits;
  auto created = create(lock, std::move(spec), false);
  if (!created) return std::unexpected(created.error());
  auto started = dispatch(lock, created->id, ev::Started{});
  if (!started) return std::unexpected(started.error());
  return StreamStarted{*started, false, 0, {}};
}

Result<ChunkAck> RecordingService::receive_chunk(const RecordingId& id, std::optional<ChunkIndex> index,
                                                 std::span<const std::byte> bytes) {
  Lock lock(mutex_);
  auto current = find_any(id);
  if (!current) {
    if (current.error().code == Errc::not_found)
      return fail(Errc::not_started, fmt::format("Recording not started: no recording '{}'. Send 'start' first", id));
    return std::unexpected(current.error());
  }
  auto admission = admit_chunk(*current, index, bytes.size(), rules_, now());
  if (!admission) {
    // A breach of the recording's limits ends it; what it already holds is finalized.
    if (current->state == State::recording) {
      if (admission.error().code == Errc::total_size_exceeded)
        (void)dispatch(lock, id, ev::StopRequested{StopReason::size_limit});
      if (admission.error().code == Errc::duration_exceeded)
        (void)dispatch(lock, id, ev::DeadlineReached{DeadlineKind::limit});
    }
    return std::unexpected(admission.error());
  }
  if (admission->duplicate) return ChunkAck{id, admission->index, bytes.size(), true};

  lock.unlock();
  auto stored = ports_.chunks.put(id, admission->index, bytes);
  lock.lock();
  if (!stored) return std::unexpected(stored.error());

  auto after = dispatch(lock, id, ev::ChunkStored{admission->index, bytes.size()});
  if (!after)
    return fail(after.error().code, fmt::format("chunk {} was written, but {}", admission->index, after.error().message));
  return ChunkAck{id, admission->index, bytes.size(), false};
}

void RecordingService::stream_disconnected(const RecordingId& id) {
  Lock lock(mutex_);
  if (find_live(id)) (void)dispatch(lock, id, ev::Disconnected{});
}

Result<Recording> RecordingService::start_capture(const CaptureStart& cmd) {
  if (cmd.device.empty()) return fail(Errc::invalid_argument, "a capture needs a device");
  Lock lock(mutex_);
  if (auto admitted = admit_new(cmd.device, cmd.duration); !admitted) return std::unexpected(admitted.error());
  NewRecording spec;
  spec.id = ports_.ids.next();
  spec.kind = SourceKind::capture;
  spec.meta.device = cmd.device;
  spec.meta.owner = cmd.owner;
  spec.format = cmd.format;
  spec.expected_duration = cmd.duration;
  return create(lock, std::move(spec), true);
}

void RecordingService::on_capture_started(const RecordingId& id) { post(id, ev::Started{}); }
void RecordingService::on_capture_start_failed(const RecordingId& id, const std::string& error) {
  post(id, ev::StartFailed{error});
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
  Lock lock(mutex_);
  if (auto admitted = admit_new(cmd.agent_id); !admitted) return std::unexpected(admitted.error());
  NewRecording spec;
  spec.id = ports_.ids.next();
  spec.kind = SourceKind::agent;
  spec.meta.subject = cmd.subject;
  spec.meta.organizer = cmd.organizer;
  spec.meta.start_time = cmd.start_time;
  spec.meta.agent_id = cmd.agent_id;
  spec.meta.device = cmd.agent_id;
  spec.expected_duration = cmd.expected_duration;
  spec.remote_triggered = true;
  return create(lock, std::move(spec), true);
}

Result<Recording> RecordingService::agent_event(Lock& lock, const AgentReport& report, const Event& e) {
  Metadata meta;
  meta.subject = report.subject;
  meta.organizer = report.organizer;
  meta.start_time = report.start_time;
  meta.agent_id = report.agent_id;
  meta.device = report.agent_id;
  const std::string key = agent_key(meta);

  std::optional<RecordingId> id;
  for (const auto& [live_id, r] : live_) {
    if (r.kind == SourceKind::agent && agent_key(r.meta) == key) id = live_id;
  }
  if (!id) {
    auto stored = ports_.repository.find_by_agent_key(key);
    if (stored && *stored) id = (*stored)->id;
  }
  if (!id) {
    // A recording started on the agent itself (or whose start_confirmed was lost).
    NewRecording spec;
    spec.id = ports_.ids.next();
    spec.kind = SourceKind::agent;
    spec.meta = meta;
    spec.expected_duration = report.duration_expected;
    auto created = create(lock, std::move(spec), false);
    if (!created) return created;
    auto started = dispatch(lock, created->id, ev::Started{});
    if (!started || holds<ev::Started>(e)) return started;
    id = created->id;
  }
  return dispatch(lock, *id, e);
}

Result<Recording> RecordingService::agent_start_confirmed(const AgentReport& report) {
  Lock lock(mutex_);
  return agent_event(lock, report, ev::Started{});
}

Result<Recording> RecordingService::agent_status(const AgentReport& report) {
  Lock lock(mutex_);
  return agent_event(lock, report, ev::StatusReported{});
}

Result<Recording> RecordingService::agent_stop_confirmed(const AgentReport& report) {
  Lock lock(mutex_);
  return agent_event(lock, report,
                     ev::StopConfirmed{report.success, report.reason, report.duration_actual, report.duration_expected});
}

Result<Recording> RecordingService::agent_premature_stop(const AgentReport& report) {
  Lock lock(mutex_);
  const StopReason reason = report.reason == StopReason::none ? StopReason::premature : report.reason;
  return agent_event(lock, report,
                     ev::PrematureStopReported{reason, report.duration_actual, report.duration_expected,
                                               report.reason_text});
}

Result<Recording> RecordingService::stop(const RecordingId& id, StopReason reason) {
  Lock lock(mutex_);
  return dispatch(lock, id, ev::StopRequested{reason});
}

Result<Recording> RecordingService::remove(const RecordingId& id) {
  Lock lock(mutex_);
  return dispatch(lock, id, ev::DeleteRequested{});
}

Result<Recording> RecordingService::get(const RecordingId& id) {
  Lock lock(mutex_);
  return find_any(id);
}

std::vector<Recording> RecordingService::live() const {
  Lock lock(mutex_);
  std::vector<Recording> out;
  out.reserve(live_.size());
  for (const auto& [id, r] : live_) out.push_back(r);
  std::ranges::sort(out, {}, &Recording::created_at);
  return out;
}

Result<std::vector<Recording>> RecordingService::list(const RecordingQuery& q) {
  Lock lock(mutex_);
  auto stored = ports_.repository.list(q);
  if (!stored) return stored;
  // Live recordings are newer in memory than in their rows (chunks are not saved one by one).
  for (Recording& r : *stored) {
    if (Recording* live = find_live(r.id)) r = *live;
  }
  return stored;
}

std::optional<Recording> RecordingService::live_on(const std::string& device) {
  Lock lock(mutex_);
  auto it = devices_.find(device);
  if (it == devices_.end()) return std::nullopt;
  if (Recording* r = find_live(it->second)) return *r;
  return std::nullopt;
}

void RecordingService::on_deadline(const RecordingId& id, DeadlineKind kind) {
  Lock lock(mutex_);
  if (find_live(id)) (void)dispatch(lock, id, ev::DeadlineReached{kind});
}

Result<StorageStatus> RecordingService::check_storage() {
  Lock lock(mutex_);
  auto status = measure_storage();
  if (!status) return status;
  if (status->level != storage_level_) {
    storage_level_ = status->level;
    const WallTime at = ports_.clock.wall_now();
    ports_.events.publish(StorageNotice{ports_.ids.next(), at, status->level, status->used_percent});
    const Severity severity = status->level == StorageLevel::block  ? Severity::critical
                              : status->level == StorageLevel::warn ? Severity::warning
                                                                    : Severity::info;
    ports_.alerts.alert(Alert{ports_.ids.next(), at, severity,
                              fmt::format("Storage {:.1f}% used: level {} (warn at {}%, block at {}%)",
                                          status->used_percent, to_string(status->level),
                                          storage_policy_.warn_percent, storage_policy_.block_percent),
                              std::nullopt});
  }
  if (status->level == StorageLevel::block) {
    // Agents record on their own disks; streams and captures write to ours.
    std::vector<RecordingId> running;
    for (const auto& [id, r] : live_) {
      if (r.kind != SourceKind::agent && r.state != State::stopping) running.push_back(id);
    }
    for (const RecordingId& id : running) (void)dispatch(lock, id, ev::StopRequested{StopReason::storage_critical});
  }
  return status;
}

void RecordingService::shutdown() {
  Lock lock(mutex_);
  std::vector<RecordingId> captures;
  for (const auto& [id, r] : live_) {
    if (r.kind == SourceKind::capture && r.state != State::stopping) captures.push_back(id);
  }
  for (const RecordingId& id : captures) (void)dispatch(lock, id, ev::StopRequested{StopReason::shutdown});
}

}  // namespace recorder::core
