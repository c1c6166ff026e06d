#include "recorder/core/domain/state_machine.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>

namespace recorder::core {
namespace {

using enum State;

// The transition table. docs/architecture.md shows the same rows (a test compares them),
// and tests/core/transition_table_test.cpp drives every row.
constexpr std::array kTable{
    TransitionRow{starting, "started", "", recording},
    TransitionRow{starting, "start_failed", "attempts left", starting},
    TransitionRow{starting, "start_failed", "no attempts left", failed},
    TransitionRow{starting, "deadline:start_timeout", "attempts left", starting},
    TransitionRow{starting, "deadline:start_timeout", "no attempts left", failed},
    TransitionRow{starting, "deadline:retry", "", starting},
    TransitionRow{starting, "stop_requested", "", failed},
    TransitionRow{recording, "chunk_stored", "stream", recording},
    TransitionRow{recording, "status_reported", "agent", recording},
    TransitionRow{recording, "segment_opened", "capture", recording},
    TransitionRow{recording, "segment_closed", "capture", recording},
    TransitionRow{recording, "resumed", "stream", recording},
    TransitionRow{recording, "deadline:rotation", "capture", recording},
    TransitionRow{recording, "disconnected", "stream", interrupted},
    TransitionRow{recording, "deadline:stale", "agent, silent for stale_after", stale},
    TransitionRow{recording, "stop_requested", "stream", finalizing},
    TransitionRow{recording, "stop_requested", "agent or capture", stopping},
    TransitionRow{recording, "deadline:limit", "stream", finalizing},
    TransitionRow{recording, "deadline:limit", "capture, or agent started by recorderd", stopping},
    TransitionRow{recording, "deadline:limit", "agent started on the agent", ready},
    TransitionRow{recording, "deadline:scheduled_end", "capture", stopping},
    TransitionRow{recording, "stop_confirmed", "agent, success", ready},
    TransitionRow{recording, "stop_confirmed", "agent, failed", failed},
    TransitionRow{recording, "premature_stop_reported", "agent", ready},
    TransitionRow{recording, "producer_failed", "capture", finalizing},
    TransitionRow{interrupted, "chunk_stored", "a write that finished after the drop", interrupted},
    TransitionRow{interrupted, "resumed", "", recording},
    TransitionRow{interrupted, "deadline:grace", "", finalizing},
    TransitionRow{interrupted, "deadline:limit", "", finalizing},
    TransitionRow{interrupted, "stop_requested", "", finalizing},
    TransitionRow{stale, "status_reported", "", recording},
    TransitionRow{stale, "stop_confirmed", "success", ready},
    TransitionRow{stale, "stop_confirmed", "failed", failed},
    TransitionRow{stale, "premature_stop_reported", "", ready},
    TransitionRow{stale, "stop_requested", "", stopping},
    TransitionRow{stale, "deadline:stale", "silent for stale_after + stale_give_up", failed},
    TransitionRow{stale, "deadline:limit", "started by recorderd", stopping},
    TransitionRow{stale, "deadline:limit", "started on the agent", ready},
    TransitionRow{stopping, "segment_opened", "capture", stopping},
    TransitionRow{stopping, "segment_closed", "capture", stopping},
    TransitionRow{stopping, "stop_confirmed", "capture", finalizing},
    TransitionRow{stopping, "stop_confirmed", "agent, success", ready},
    TransitionRow{stopping, "stop_confirmed", "agent, failed", failed},
    TransitionRow{stopping, "premature_stop_reported", "agent", ready},
    TransitionRow{stopping, "producer_failed", "capture", finalizing},
    TransitionRow{stopping, "deadline:stop_timeout", "capture", finalizing},
    TransitionRow{stopping, "deadline:stop_timeout", "agent", failed},
    TransitionRow{finalizing, "segment_closed", "capture", finalizing},
    TransitionRow{finalizing, "finalized", "needs processing, no gaps, no failure", processing},
    TransitionRow{finalizing, "finalized", "no processing, no gaps, no failure", ready},
    TransitionRow{finalizing, "finalized", "gaps or a failure", failed},
    TransitionRow{finalizing, "finalize_failed", "", failed},
    TransitionRow{processing, "processed", "", ready},
    TransitionRow{processing, "processing_failed", "", failed},
    TransitionRow{recording, "recovered", "stream", interrupted},
    TransitionRow{recording, "recovered", "agent", recording},
    TransitionRow{recording, "recovered", "capture: the capture starts again", starting},
    TransitionRow{interrupted, "recovered", "", interrupted},
    TransitionRow{stale, "recovered", "", stale},
    TransitionRow{starting, "recovered", "stream: saved before its start was", interrupted},
    TransitionRow{starting, "recovered", "capture or agent", starting},
    TransitionRow{stopping, "recovered", "agent", stopping},
    TransitionRow{stopping, "recovered", "capture", finalizing},
    TransitionRow{finalizing, "recovered", "", finalizing},
    TransitionRow{processing, "recovered", "", processing},
    TransitionRow{ready, "upload_failed", "agent", failed},
    TransitionRow{ready, "delete_requested", "", deleted},
    TransitionRow{failed, "delete_requested", "", deleted},
};

bool in_table(State from, std::string_view event, State to) {
  return std::ranges::any_of(kTable, [&](const TransitionRow& row) {
    return row.from == from && row.event == event && row.to == to;
  });
}

std::string describe(const Recording& r) {
  if (!r.meta.subject.empty()) return fmt::format("{} ({})", r.id, r.meta.subject);
  return r.id;
}

std::string seconds_text(Duration d) { return fmt::format("{} s", std::chrono::duration_cast<Seconds>(d).count()); }

// Builds one step. The helpers below keep the per-event code short and make sure that
// every move records its transition and its notice the same way.
class Builder {
 public:
  Builder(const Recording& r, std::string event, const Rules& rules, Now now)
      : step_{r, {}, std::nullopt}, from_(r.state), event_(std::move(event)), rules_(rules), now_(now) {}

  Recording& rec() { return step_.recording; }
  const Rules& rules() const { return rules_; }
  Now now() const { return now_; }

  Builder& emit(Effect e) {
    step_.effects.push_back(std::move(e));
    return *this;
  }
  Builder& arm(DeadlineKind kind, MonoTime at) { return emit(fx::ArmDeadline{kind, at}); }
  Builder& cancel(DeadlineKind kind) { return emit(fx::CancelDeadline{kind}); }
  Builder& publish(Notice n) { return emit(fx::Publish{n}); }
  Builder& alert(Severity s, std::string message) { return emit(fx::Alert{s, std::move(message)}); }

  Builder& move_to(State to, std::string detail = {}) {
    detail_ = std::move(detail);
    step_.recording.state = to;
    return *this;
  }

  // Stops media: the recording's stop time, reason and measured duration are fixed here.
  Builder& mark_stopped(StopReason reason, std::optional<MonoTime> media_end = std::nullopt) {
    Recording& r = rec();
    if (r.stopped_at) return *this;
    r.stop_reason = reason;
    r.stopped_at = now_.wall;
    if (r.started_at && !r.duration_seconds) {
      MonoTime end = media_end.value_or(now_.mono);
      r.duration_seconds = to_seconds(std::chrono::duration_cast<Duration>(end - r.timing.started));
    }
    publish(Notice::stopped);
    return *this;
  }

  Builder& finalize(StopReason reason, std::optional<MonoTime> media_end = std::nullopt) {
    mark_stopped(reason, media_end);
    rec().missing_chunks = rec().ledger.missing();
    return move_to(finalizing).emit(fx::Finalize{});
  }

  Builder& stop_producer(StopReason reason) {
    mark_stopped(reason);
    arm(DeadlineKind::stop_timeout, now_.mono + rules_.stop_timeout);
    return move_to(stopping).emit(fx::StopProducer{}).publish(Notice::stopping);
  }

  // The terminal steps. `outcome` is seed 000's status.
  Builder& end_ready(Outcome outcome) {
    rec().outcome = outcome;
    rec().finalized_at = now_.wall;
    return move_to(ready).publish(Notice::ready);
  }
  Builder& end_failed(std::string error) {
    rec().outcome = Outcome::failed;
    rec().error = error;
    rec().finalized_at = now_.wall;
    move_to(failed, std::move(error));
    return publish(Notice::failed);
  }

  Step done() && {
    const Recording& r = step_.recording;
    if (r.state != from_ || !step_.effects.empty()) {
      if (!in_table(from_, event_, r.state)) {
        // A move the table does not allow is a bug in this file, not bad input.
        std::fprintf(stderr, "recorder: state machine moved %s --%s--> %s outside its table\n",
                     std::string(to_string(from_)).c_str(), event_.c_str(),
                     std::string(to_string(r.state)).c_str());
        std::abort();
      }
    }
    if (r.state != from_) step_.transition = Transition{from_, r.state, event_, r.stop_reason, detail_};
    return std::move(step_);
  }

 private:
  Step step_;
  State from_;
  std::string event_;
  std::string detail_;
  const Rules& rules_;
  Now now_;
};

Result<Step> not_applicable(const Recording& r, std::string_view what) {
  return fail(Errc::invalid_state, fmt::format("recording {} is {}: it cannot take {} now", r.id,
                                               to_string(r.state), what));
}

Step unchanged(const Recording& r) { return Step{r, {}, std::nullopt}; }

bool started_by_agent(const Recording& r) { return r.kind == SourceKind::agent && !r.remote_triggered; }

void touch(Recording& r, Now now) {
  r.last_activity_at = now.wall;
  r.timing.last_activity = now.mono;
}

// Durations an agent reports override what the server measured.
void take_reported(Recording& r, std::optional<double> actual, std::optional<Seconds> expected) {
  if (actual) r.duration_seconds = *actual;
  if (expected && expected->count() > 0) r.expected_duration = *expected;
}

class Machine {
 public:
  Machine(const Recording& r, const Rules& rules, Now now) : r_(r), rules_(rules), now_(now) {}

  Result<Step> operator()(const ev::Started& e) {
    if (r_.state != starting) {
      // A second start_confirmed, or a capture that reports twice: nothing new.
      if (is_live(r_.state)) return unchanged(r_);
      return not_applicable(r_, "a start");
    }
    Builder b = make("started");
    Recording& r = b.rec();
    if (!r.started_at) {  // a capture that starts again after a restart keeps its start
      r.started_at = now_.wall;
      r.timing.started = now_.mono;
    }
    touch(r, now_);
    if (!e.agent_timestamp.empty()) r.agent.timestamp = e.agent_timestamp;
    b.cancel(DeadlineKind::start_timeout).cancel(DeadlineKind::retry);
    b.arm(DeadlineKind::limit, limit_deadline(r, rules_));
    if (r.kind == SourceKind::agent) b.arm(DeadlineKind::stale, now_.mono + rules_.stale_after);
    if (r.kind == SourceKind::capture) {
      b.arm(DeadlineKind::rotation, now_.mono + rules_.rotation);
      if (r.expected_duration && *r.expected_duration < rules_.hard_limit)
        b.arm(DeadlineKind::scheduled_end, now_.mono + *r.expected_duration);
    }
    b.move_to(recording).publish(Notice::started);
    return std::move(b).done();
  }

  Result<Step> operator()(const ev::StartFailed& e) { return start_failed("start_failed", e.error); }

  Result<Step> operator()(const ev::ChunkStored& e) {
    // A write may finish just after the client's connection dropped: the bytes are
    // durable, so the ledger must say so, or a resumed client would send them again.
    if (r_.kind != SourceKind::stream || (r_.state != recording && r_.state != interrupted))
      return not_applicable(r_, "a chunk");
    Builder b = make("chunk_stored");
    if (!b.rec().ledger.add(e.index, e.bytes)) return unchanged(r_);
    if (r_.state == recording) touch(b.rec(), now_);
    return std::move(b).done();
  }

  Result<Step> operator()(const ev::StopRequested& e) {
    switch (r_.state) {
      case starting: {
        Builder b = make("stop_requested");
        b.rec().stop_reason = e.reason;
        b.rec().stopped_at = now_.wall;
        b.emit(fx::StopProducer{});
        b.end_failed("stopped before the recording started");
        return std::move(b).done();
      }
      case recording:
        if (r_.kind == SourceKind::stream) return std::move(make("stop_requested").finalize(e.reason)).done();
        return std::move(make("stop_requested").stop_producer(e.reason)).done();
      case interrupted:
        return std::move(make("stop_requested").finalize(e.reason, r_.timing.interrupted)).done();
      case stale:
        return std::move(make("stop_requested").stop_producer(e.reason)).done();
      default:
        return unchanged(r_);  // stop twice, finalize once
    }
  }

  Result<Step> operator()(const ev::Disconnected&) {
    if (r_.kind != SourceKind::stream) return not_applicable(r_, "a disconnect");
    if (r_.state != recording) return unchanged(r_);
    Builder b = make("disconnected");
    b.rec().timing.interrupted = now_.mono;
    b.arm(DeadlineKind::grace, now_.mono + rules_.grace);
    b.move_to(interrupted).publish(Notice::interrupted);
    return std::move(b).done();
  }

  Result<Step> operator()(const ev::Resumed&) {
    if (r_.kind != SourceKind::stream) return not_applicable(r_, "a resume");
    if (r_.state == recording) {
      Builder b = make("resumed");
      touch(b.rec(), now_);
      b.publish(Notice::resumed);
      return std::move(b).done();
    }
    if (r_.state != interrupted) return not_applicable(r_, "a resume");
    Builder b = make("resumed");
    touch(b.rec(), now_);
    b.cancel(DeadlineKind::grace).move_to(recording).publish(Notice::resumed);
    return std::move(b).done();
  }

  Result<Step> operator()(const ev::StatusReported& e) {
    if (r_.kind != SourceKind::agent) return not_applicable(r_, "a status report");
    if (r_.state != recording && r_.state != stale) return unchanged(r_);  // late report
    Builder b = make("status_reported");
    touch(b.rec(), now_);
    b.rec().agent = e.report;
    b.arm(DeadlineKind::stale, now_.mono + rules_.stale_after);
    if (r_.state == stale) b.move_to(recording, "status received again").publish(Notice::revived);
    return std::move(b).done();
  }

  Result<Step> operator()(const ev::StopConfirmed& e) {
    if (r_.kind == SourceKind::stream) return not_applicable(r_, "a stop confirmation");
    if (r_.kind == SourceKind::capture) {
      if (r_.state != stopping) return unchanged(r_);
      return std::move(make("stop_confirmed").finalize(r_.stop_reason)).done();
    }
    if (r_.state != recording && r_.state != stale && r_.state != stopping) return unchanged(r_);
    Builder b = make("stop_confirmed");
    Recording& r = b.rec();
    StopReason reason = e.reason != StopReason::none ? e.reason
                        : r.stop_reason != StopReason::none ? r.stop_reason
                                                            : StopReason::completed;
    take_reported(r, e.duration_actual, e.duration_expected);
    if (!e.agent_timestamp.empty()) r.agent.timestamp = e.agent_timestamp;
    b.mark_stopped(reason);
    r.stop_reason = reason;
    if (!e.success) {
      b.alert(Severity::warning, fmt::format("Recording {} failed on the agent (reason {})", describe(r),
                                             to_string(reason)));
      b.end_failed(fmt::format("the agent reported failure (reason {})", to_string(reason)));
    } else {
      // Seed 000's handler, exactly: success is "completed", unless the stop was manual and
      // more than the threshold short ("stopped_early"). A success with reason premature or
      // error is still completed; the reason is kept as the stop reason.
      const bool manual_and_short = reason == StopReason::manual &&
                                    classify(reason, r.expected_duration, r.duration_seconds,
                                             rules_.premature_threshold) == Outcome::stopped_early;
      b.end_ready(manual_and_short ? Outcome::stopped_early : Outcome::completed);
    }
    return std::move(b).done();
  }

  Result<Step> operator()(const ev::VideoAttached& e) {
    if (r_.kind != SourceKind::agent) return not_applicable(r_, "an uploaded video (only agent recordings have one)");
    if (r_.state == deleted) return not_applicable(r_, "an uploaded video");
    if (r_.video == e.video) return unchanged(r_);
    Builder b = make("video_attached");
    b.rec().video = e.video;
    return std::move(b).done();
  }

  Result<Step> operator()(const ev::UploadFailed& e) {
    if (r_.kind != SourceKind::agent) return not_applicable(r_, "an upload failure (only agent recordings upload)");
    if (r_.state == failed) return unchanged(r_);
    if (r_.state != ready) return not_applicable(r_, "an upload failure before the recording has finished");
    Builder b = make("upload_failed");
    b.alert(Severity::critical, fmt::format("Recording {}: its uploaded video failed: {}", describe(r_), e.error));
    b.end_failed(fmt::format("the upload failed: {}", e.error));
    return std::move(b).done();
  }

  Result<Step> operator()(const ev::PrematureStopReported& e) {
    if (r_.kind != SourceKind::agent) return not_applicable(r_, "a premature stop report");
    if (r_.state != recording && r_.state != stale && r_.state != stopping) return unchanged(r_);
    Builder b = make("premature_stop_reported");
    Recording& r = b.rec();
    take_reported(r, e.duration_actual, e.duration_expected);
    if (!e.agent_timestamp.empty()) r.agent.timestamp = e.agent_timestamp;
    b.mark_stopped(e.reason);
    r.stop_reason = e.reason;
    b.alert(Severity::warning,
            fmt::format("Recording stopped prematurely: {}; expected {} s, actual {} s; reason: {}",
                        describe(r), r.expected_duration ? r.expected_duration->count() : 0,
                        r.duration_seconds.value_or(0.0), e.detail.empty() ? to_string(e.reason) : e.detail));
    b.end_ready(Outcome::stopped_premature);
    b.move_to(ready, e.detail);
    return std::move(b).done();
  }

  // The file being written now; no transition and no notice: it changes at each rotation.
  Result<Step> operator()(const ev::SegmentOpened& e) {
    if (r_.kind != SourceKind::capture) return not_applicable(r_, "a segment");
    // The first file may open before the pipeline reports that it plays.
    if (r_.state != starting && r_.state != recording && r_.state != stopping) return unchanged(r_);
    Builder b = make("segment_opened");
    b.rec().current_file = e.path;
    return std::move(b).done();
  }

  Result<Step> operator()(const ev::SegmentClosed& e) {
    if (r_.kind != SourceKind::capture) return not_applicable(r_, "a segment");
    if (r_.state != recording && r_.state != stopping && r_.state != finalizing)
      return not_applicable(r_, "a segment");
    Builder b = make("segment_closed");
    Recording& r = b.rec();
    auto same = [&](const MediaFile& f) { return f.path == e.file.path; };
    if (auto it = std::ranges::find_if(r.files, same); it != r.files.end()) {
      *it = e.file;  // reported again (after recovery, say): keep one entry
    } else {
      r.files.push_back(e.file);
    }
    touch(r, now_);
    b.publish(Notice::segment_closed);
    return std::move(b).done();
  }

  Result<Step> operator()(const ev::ProducerFailed& e) {
    if (r_.kind != SourceKind::capture) return not_applicable(r_, "a pipeline failure");
    if (r_.state == starting) return start_failed("start_failed", e.error);
    if (r_.state != recording && r_.state != stopping) return unchanged(r_);
    Builder b = make("producer_failed");
    b.rec().error = e.error;
    b.alert(Severity::critical, fmt::format("Capture {} failed: {}", describe(r_), e.error));
    b.finalize(StopReason::error).move_to(finalizing, e.error);
    return std::move(b).done();
  }

  Result<Step> operator()(const ev::Finalized& e) {
    if (r_.state != finalizing) return unchanged(r_);  // finalize once
    Builder b = make("finalized");
    Recording& r = b.rec();
    for (const MediaFile& f : e.files) {
      if (std::ranges::find(r.files, f) == r.files.end()) r.files.push_back(f);
    }
    if (e.duration_seconds) r.duration_seconds = e.duration_seconds;
    if (!r.missing_chunks.empty()) {
      std::string msg = fmt::format("missing chunks {} of {} expected",
                                    fmt::join(r.missing_chunks, ", "), r.ledger.next_index());
      b.alert(Severity::warning, fmt::format("Recording {} is incomplete: {}", describe(r), msg));
      b.end_failed(std::move(msg));
    } else if (r.stop_reason == StopReason::error) {
      b.end_failed(r.error.empty() ? "the producer failed" : r.error);
    } else if (e.needs_processing) {
      b.move_to(processing).emit(fx::Process{}).publish(Notice::processing);
    } else {
      b.end_ready(classify(r.stop_reason, r.expected_duration, r.duration_seconds, rules_.premature_threshold));
    }
    return std::move(b).done();
  }

  Result<Step> operator()(const ev::FinalizeFailed& e) {
    if (r_.state != finalizing) return unchanged(r_);
    Builder b = make("finalize_failed");
    b.alert(Severity::critical, fmt::format("Finalizing recording {} failed: {}; its chunks are kept",
                                            describe(r_), e.error));
    b.end_failed(fmt::format("finalize failed: {}", e.error));
    return std::move(b).done();
  }

  Result<Step> operator()(const ev::Processed& e) {
    if (r_.state != processing) return unchanged(r_);
    Builder b = make("processed");
    Recording& r = b.rec();
    for (const MediaFile& f : e.files) {
      if (std::ranges::find(r.files, f) == r.files.end()) r.files.push_back(f);
    }
    if (e.duration_seconds) r.duration_seconds = e.duration_seconds;
    b.end_ready(classify(r.stop_reason, r.expected_duration, r.duration_seconds, rules_.premature_threshold));
    return std::move(b).done();
  }

  Result<Step> operator()(const ev::ProcessingFailed& e) {
    if (r_.state != processing) return unchanged(r_);
    Builder b = make("processing_failed");
    b.alert(Severity::warning, fmt::format("Processing recording {} failed: {}; the original is kept",
                                           describe(r_), e.error));
    b.end_failed(fmt::format("processing failed: {}", e.error));
    return std::move(b).done();
  }

  Result<Step> operator()(const ev::DeleteRequested&) {
    if (r_.state == deleted) return unchanged(r_);
    if (r_.state != ready && r_.state != failed)
      return fail(Errc::invalid_state,
                  fmt::format("recording {} is {}: stop it before deleting it", r_.id, to_string(r_.state)));
    Builder b = make("delete_requested");
    b.emit(fx::DeleteMedia{}).move_to(deleted).publish(Notice::deleted);
    return std::move(b).done();
  }

  Result<Step> operator()(const ev::Recovered& e) {
    if (is_terminal(r_.state)) return unchanged(r_);
    Builder b = make("recovered");
    Recording& r = b.rec();
    // Monotonic anchors do not survive a restart: derive them from the stored wall times.
    const auto anchor = [&](std::optional<WallTime> w) {
      return now_.mono - std::chrono::duration_cast<MonoTime::duration>(now_.wall - w.value_or(now_.wall));
    };
    r.timing.started = anchor(r.started_at);
    r.timing.last_activity = anchor(r.last_activity_at ? r.last_activity_at : r.started_at);
    if (e.ledger) r.ledger = *e.ledger;
    const std::string why = "recorderd restarted";
    // A stream saved as created but not yet as started (the process died in between) is
    // taken up like a started one: a client may already have been told it started.
    const bool unstarted_stream = r_.kind == SourceKind::stream && r_.state == starting;
    if (unstarted_stream && !r.started_at) {
      r.started_at = r.created_at;
      r.timing.started = anchor(r.created_at);
    }
    switch (unstarted_stream ? recording : r_.state) {
      case recording:
      case interrupted:
        if (r.kind == SourceKind::stream) {
          // Resumable for a whole grace period from now.
          r.timing.interrupted = now_.mono;
          b.arm(DeadlineKind::grace, now_.mono + rules_.grace).arm(DeadlineKind::limit, limit_deadline(r, rules_));
          b.move_to(interrupted, why).publish(Notice::interrupted);
        } else if (r.kind == SourceKind::agent) {
          b.arm(DeadlineKind::stale, now_.mono + rules_.stale_after).arm(DeadlineKind::limit, limit_deadline(r, rules_));
        } else {
          // The pipeline died with the process; the recording goes on in new segments.
          r.start_attempts = 1;
          b.emit(fx::StartProducer{}).arm(DeadlineKind::start_timeout, now_.mono + rules_.start_timeout);
          b.move_to(starting, why + " while capturing: the capture starts again");
        }
        break;
      case stale:
        // A fresh window: silent for stale_give_up from now, it fails.
        r.timing.last_activity = now_.mono - rules_.stale_after;
        b.arm(DeadlineKind::limit, limit_deadline(r, rules_)).arm(DeadlineKind::stale, now_.mono + rules_.stale_give_up);
        break;
      case starting:
        if (r.kind == SourceKind::capture) {
          r.start_attempts = std::max<std::uint32_t>(r.start_attempts, 1);
          b.emit(fx::StartProducer{});
        }
        b.arm(DeadlineKind::start_timeout, now_.mono + rules_.start_timeout);
        break;
      case stopping:
        if (r.kind == SourceKind::capture) {
          b.finalize(r.stop_reason).move_to(finalizing, why + " while the capture was stopping");
        } else {
          b.emit(fx::StopProducer{}).arm(DeadlineKind::stop_timeout, now_.mono + rules_.stop_timeout);
        }
        break;
      case finalizing: b.emit(fx::Finalize{}); break;
      case processing: b.emit(fx::Process{}); break;
      default: return unchanged(r_);
    }
    return std::move(b).done();
  }

  Result<Step> operator()(const ev::DeadlineReached& e) {
    switch (e.kind) {
      case DeadlineKind::limit: return limit_reached();
      case DeadlineKind::scheduled_end:
        if (r_.kind != SourceKind::capture || r_.state != recording) return unchanged(r_);
        return std::move(make("deadline:scheduled_end").stop_producer(StopReason::completed)).done();
      case DeadlineKind::grace:
        if (r_.state != interrupted || now_.mono < r_.timing.interrupted + rules_.grace) return unchanged(r_);
        return std::move(make("deadline:grace").finalize(StopReason::disconnect, r_.timing.interrupted)).done();
      case DeadlineKind::stale: {
        if (r_.kind != SourceKind::agent) return unchanged(r_);
        const MonoTime give_up = r_.timing.last_activity + rules_.stale_after + rules_.stale_give_up;
        if (r_.state == stale) {
          if (now_.mono < give_up) return unchanged(r_);
          // Silent far past its stale threshold: nobody will confirm a stop any more.
          Builder b = make("deadline:stale");
          const std::string msg = fmt::format("no status from agent {} for {}: given up", r_.meta.agent_id,
                                              seconds_text(rules_.stale_after + rules_.stale_give_up));
          b.alert(Severity::critical, fmt::format("Recording {} failed: {}", describe(r_), msg));
          b.mark_stopped(StopReason::stale, r_.timing.last_activity);
          b.end_failed(msg);
          return std::move(b).done();
        }
        if (r_.state != recording || now_.mono < r_.timing.last_activity + rules_.stale_after) return unchanged(r_);
        Builder b = make("deadline:stale");
        b.alert(Severity::warning, fmt::format("Stale recording detected: {}: no status for {}", describe(r_),
                                               seconds_text(rules_.stale_after)));
        b.arm(DeadlineKind::stale, give_up);
        b.move_to(stale).publish(Notice::stale);
        return std::move(b).done();
      }
      case DeadlineKind::start_timeout:
        if (r_.state != starting) return unchanged(r_);
        return start_failed("deadline:start_timeout",
                            fmt::format("the producer did not confirm the start within {}",
                                        seconds_text(rules_.start_timeout)));
      case DeadlineKind::retry: {
        if (r_.state != starting) return unchanged(r_);
        Builder b = make("deadline:retry");
        ++b.rec().start_attempts;
        b.emit(fx::StartProducer{}).arm(DeadlineKind::start_timeout, now_.mono + rules_.start_timeout);
        return std::move(b).done();
      }
      case DeadlineKind::stop_timeout: {
        if (r_.state != stopping) return unchanged(r_);
        Builder b = make("deadline:stop_timeout");
        std::string msg = fmt::format("the producer did not confirm the stop within {}",
                                      seconds_text(rules_.stop_timeout));
        b.alert(Severity::critical, fmt::format("Recording {}: {}", describe(r_), msg));
        if (r_.kind == SourceKind::capture) {
          b.rec().error = msg;
          b.finalize(b.rec().stop_reason).move_to(finalizing, msg);
        } else {
          b.end_failed(msg);
        }
        return std::move(b).done();
      }
      case DeadlineKind::rotation: {
        if (r_.kind != SourceKind::capture || r_.state != recording) return unchanged(r_);
        Builder b = make("deadline:rotation");
        b.emit(fx::RotateSegment{}).arm(DeadlineKind::rotation, now_.mono + rules_.rotation);
        return std::move(b).done();
      }
    }
    return unchanged(r_);
  }

 private:
  Builder make(std::string event) { return Builder(r_, std::move(event), rules_, now_); }

  Result<Step> start_failed(const char* event, const std::string& error) {
    if (r_.state != starting) return unchanged(r_);
    Builder b = make(event);
    Recording& r = b.rec();
    r.error = error;
    b.cancel(DeadlineKind::start_timeout);
    if (r.start_attempts < rules_.start_retry.max_attempts) {
      b.arm(DeadlineKind::retry, now_.mono + rules_.start_retry.delay_after(r.start_attempts));
      b.move_to(starting, error);
    } else {
      std::string msg = fmt::format("start failed after {} attempts: {}", r.start_attempts, error);
      b.alert(Severity::critical, fmt::format("Recording {}: {}", describe(r), msg));
      b.end_failed(std::move(msg));
    }
    return std::move(b).done();
  }

  Result<Step> limit_reached() {
    if (r_.state != recording && r_.state != interrupted && r_.state != stale) return unchanged(r_);
    if (now_.mono < limit_deadline(r_, rules_)) return unchanged(r_);
    Builder b = make("deadline:limit");
    const StopReason reason = StopReason::automatic_limit;
    if (r_.kind == SourceKind::stream) {
      std::optional<MonoTime> end;
      if (r_.state == interrupted) end = r_.timing.interrupted;
      b.finalize(reason, end);
    } else if (started_by_agent(r_)) {
      // Seed 000 test 6: the agent stops a manual recording itself and tells nobody.
      b.mark_stopped(reason);
      b.end_ready(classify(reason, r_.expected_duration, b.rec().duration_seconds, rules_.premature_threshold));
    } else {
      b.stop_producer(reason);
    }
    return std::move(b).done();
  }

  const Recording& r_;
  const Rules& rules_;
  Now now_;
};

}  // namespace

std::string_view to_string(DeadlineKind k) {
  switch (k) {
    case DeadlineKind::limit: return "limit";
    case DeadlineKind::scheduled_end: return "scheduled_end";
    case DeadlineKind::grace: return "grace";
    case DeadlineKind::stale: return "stale";
    case DeadlineKind::start_timeout: return "start_timeout";
    case DeadlineKind::retry: return "retry";
    case DeadlineKind::stop_timeout: return "stop_timeout";
    case DeadlineKind::rotation: return "rotation";
  }
  return "unknown";
}

std::string_view to_string(Severity s) {
  switch (s) {
    case Severity::info: return "info";
    case Severity::warning: return "warning";
    case Severity::critical: return "critical";
  }
  return "unknown";
}

std::string_view to_string(Notice n) {
  switch (n) {
    case Notice::started: return "recording.started";
    case Notice::resumed: return "recording.resumed";
    case Notice::interrupted: return "recording.interrupted";
    case Notice::stale: return "recording.stale";
    case Notice::revived: return "recording.revived";
    case Notice::stopping: return "recording.stopping";
    case Notice::stopped: return "recording.stopped";
    case Notice::segment_closed: return "recording.segment";
    case Notice::processing: return "recording.processing";
    case Notice::ready: return "recording.ready";
    case Notice::failed: return "recording.failed";
    case Notice::deleted: return "recording.deleted";
  }
  return "unknown";
}

std::string event_name(const Event& e) {
  struct Names {
    std::string operator()(const ev::Started&) const { return "started"; }
    std::string operator()(const ev::StartFailed&) const { return "start_failed"; }
    std::string operator()(const ev::ChunkStored&) const { return "chunk_stored"; }
    std::string operator()(const ev::StopRequested&) const { return "stop_requested"; }
    std::string operator()(const ev::Disconnected&) const { return "disconnected"; }
    std::string operator()(const ev::Resumed&) const { return "resumed"; }
    std::string operator()(const ev::StatusReported&) const { return "status_reported"; }
    std::string operator()(const ev::StopConfirmed&) const { return "stop_confirmed"; }
    std::string operator()(const ev::PrematureStopReported&) const { return "premature_stop_reported"; }
    std::string operator()(const ev::SegmentOpened&) const { return "segment_opened"; }
    std::string operator()(const ev::SegmentClosed&) const { return "segment_closed"; }
    std::string operator()(const ev::ProducerFailed&) const { return "producer_failed"; }
    std::string operator()(const ev::Finalized&) const { return "finalized"; }
    std::string operator()(const ev::FinalizeFailed&) const { return "finalize_failed"; }
    std::string operator()(const ev::Processed&) const { return "processed"; }
    std::string operator()(const ev::ProcessingFailed&) const { return "processing_failed"; }
    std::string operator()(const ev::DeadlineReached& d) const {
      return "deadline:" + std::string(to_string(d.kind));
    }
    std::string operator()(const ev::DeleteRequested&) const { return "delete_requested"; }
    std::string operator()(const ev::Recovered&) const { return "recovered"; }
    std::string operator()(const ev::VideoAttached&) const { return "video_attached"; }
    std::string operator()(const ev::UploadFailed&) const { return "upload_failed"; }
  };
  return std::visit(Names{}, e);
}

Result<Step> apply(const Recording& r, const Event& e, const Rules& rules, Now now) {
  return std::visit(Machine(r, rules, now), e);
}

Outcome classify(StopReason reason, std::optional<Seconds> expected, std::optional<double> actual,
                 Seconds premature_threshold) {
  const bool short_of_expected =
      expected && actual && static_cast<double>(expected->count()) - *actual >
                                static_cast<double>(premature_threshold.count());
  switch (reason) {
    case StopReason::none:
    case StopReason::completed: return Outcome::completed;
    case StopReason::manual: return short_of_expected ? Outcome::stopped_early : Outcome::completed;
    case StopReason::automatic_limit: return short_of_expected ? Outcome::stopped_premature : Outcome::completed;
    case StopReason::error: return Outcome::failed;
    case StopReason::premature:
    case StopReason::size_limit:
    case StopReason::disconnect:
    case StopReason::stale:
    case StopReason::storage_critical:
    case StopReason::shutdown: return Outcome::stopped_premature;
  }
  return Outcome::failed;
}

std::span<const TransitionRow> transition_table() { return kTable; }

std::string transition_table_markdown() {
  std::string out = "| from | event | guard | to |\n|---|---|---|---|\n";
  for (const TransitionRow& row : kTable) {
    out += fmt::format("| {} | {} | {} | {} |\n", to_string(row.from), row.event, row.guard.empty() ? "—" : row.guard,
                       to_string(row.to));
  }
  return out;
}

Recording make_recording(NewRecording spec, Now now) {
  Recording r;
  r.id = std::move(spec.id);
  r.kind = spec.kind;
  r.meta = std::move(spec.meta);
  r.format = std::move(spec.format);
  r.expected_duration = spec.expected_duration;
  r.remote_triggered = spec.remote_triggered;
  r.limits = spec.limits;
  r.state = State::starting;
  r.created_at = now.wall;
  return r;
}

MonoTime limit_deadline(const Recording& r, const Rules& rules) {
  Duration limit = rules.hard_limit;
  if (r.kind == SourceKind::stream) limit = std::min<Duration>(limit, r.limits.max_duration);
  return r.timing.started + limit;
}

Result<ChunkAdmission> admit_chunk(const Recording& r, std::optional<ChunkIndex> index, std::uint64_t bytes,
                                   const Rules& rules, Now now) {
  if (r.kind != SourceKind::stream)
    return fail(Errc::invalid_state, fmt::format("recording {} is a {} recording: it takes no chunks", r.id,
                                                 to_string(r.kind)));
  if (r.state != State::recording) {
    if (r.stop_reason == StopReason::automatic_limit)
      return fail(Errc::duration_exceeded, fmt::format("Recording duration exceeds limit ({} s); recording {} "
                                                       "was stopped and keeps what it received",
                                                       std::chrono::duration_cast<Seconds>(
                                                           std::min<Duration>(rules.hard_limit, r.limits.max_duration))
                                                           .count(),
                                                       r.id));
    if (r.stop_reason == StopReason::size_limit)
      return fail(Errc::total_size_exceeded,
                  fmt::format("Total data size exceeds limit ({} bytes); recording {} was stopped and keeps "
                              "what it received",
                              r.limits.max_total_bytes, r.id));
    if (r.state == State::interrupted)
      return fail(Errc::invalid_state,
                  fmt::format("recording {} lost its connection: send start with its id to resume it", r.id));
    return fail(Errc::invalid_state,
                fmt::format("recording {} is {}: it accepts no more chunks", r.id, to_string(r.state)));
  }
  if (bytes == 0) return fail(Errc::invalid_argument, "empty chunk: a chunk must carry at least one byte");
  if (bytes > r.limits.max_chunk_bytes)
    return fail(Errc::chunk_too_large, fmt::format("Chunk size exceeds limit: {} bytes, the limit is {} bytes",
                                                   bytes, r.limits.max_chunk_bytes));
  const ChunkIndex next = r.ledger.next_index();
  if (index && r.ledger.contains(*index)) return ChunkAdmission{*index, true};
  if (index && *index > next + r.limits.max_index_gap)
    return fail(Errc::index_out_of_range,
                fmt::format("chunk index {} is too far ahead: the next expected index is {} and at most {} may "
                            "be skipped",
                            *index, next, r.limits.max_index_gap));
  if (now.mono >= limit_deadline(r, rules))
    return fail(Errc::duration_exceeded,
                fmt::format("Recording duration exceeds limit ({} s)",
                            std::chrono::duration_cast<Seconds>(limit_deadline(r, rules) - r.timing.started).count()));
  if (r.ledger.total_bytes() + bytes > r.limits.max_total_bytes)
    return fail(Errc::total_size_exceeded, fmt::format("Total data size exceeds limit: {} bytes received, the "
                                                       "limit is {} bytes",
                                                       r.ledger.total_bytes() + bytes, r.limits.max_total_bytes));
  return ChunkAdmission{index.value_or(next), false};
}

Duration RetryPolicy::delay_after(std::uint32_t attempt) const {
  double delay = static_cast<double>(initial_delay.count());
  for (std::uint32_t i = 1; i < attempt; ++i) delay *= multiplier;
  const auto capped = std::min(delay, static_cast<double>(max_delay.count()));
  return Duration{static_cast<Duration::rep>(capped)};
}

}  // namespace recorder::core
