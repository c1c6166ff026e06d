// Drives every row of the transition table (docs/architecture.md) through the pure state
// machine and checks where it lands; a row without a case, or a case without a row, fails.

#include <catch2/catch.hpp>

#include <functional>
#include <set>
#include <tuple>

#include "recorder/core/domain/state_machine.hpp"

using namespace recorder::core;
using namespace std::chrono_literals;

namespace {

const Rules kRules{};
const Now kNow{MonoTime{} + 1000h, WallTime{} + 500000h};

// A recording of `kind` in `state` that has run for ten minutes and just reported.
Recording in_state(SourceKind kind, State state) {
  Recording r;
  r.id = "r1";
  r.kind = kind;
  r.state = state;
  r.meta.device = kind == SourceKind::stream ? "" : "dev0";
  r.meta.agent_id = kind == SourceKind::agent ? "agent-1" : "";
  r.remote_triggered = kind == SourceKind::agent;
  r.created_at = kNow.wall - 10min;
  if (state != State::starting) {
    r.started_at = kNow.wall - 10min;
    r.timing.started = kNow.mono - 10min;
    r.timing.last_activity = kNow.mono;
  }
  if (state == State::starting) r.start_attempts = 1;
  if (state == State::interrupted) r.timing.interrupted = kNow.mono - kRules.grace;
  if (state == State::stopping || state == State::finalizing || state == State::processing || is_terminal(state)) {
    r.stopped_at = kNow.wall - 1min;
    r.stop_reason = StopReason::manual;
  }
  return r;
}

ev::StopConfirmed failed_stop() {
  ev::StopConfirmed e;
  e.success = false;
  return e;
}

Recording with(Recording r, const std::function<void(Recording&)>& change) {
  change(r);
  return r;
}

struct Case {
  State from;
  std::string event;
  State to;
  Recording recording;
  Event input;
  std::function<void(const Step&)> also = [](const Step&) {};
};

template <typename T>
bool has_effect(const Step& s) {
  return std::ranges::any_of(s.effects, [](const Effect& e) { return std::holds_alternative<T>(e); });
}

bool publishes(const Step& s, Notice n) {
  return std::ranges::any_of(s.effects, [n](const Effect& e) {
    const auto* p = std::get_if<fx::Publish>(&e);
    return p && p->notice == n;
  });
}

using enum State;
using K = SourceKind;
using D = DeadlineKind;

std::vector<Case> cases() {
  const auto stale_agent = [](Recording& r) { r.timing.last_activity = kNow.mono - kRules.stale_after; };
  const auto given_up = [](Recording& r) {
    r.timing.last_activity = kNow.mono - kRules.stale_after - kRules.stale_give_up;
  };
  const auto over_limit = [](Recording& r) {
    r.timing.started = kNow.mono - kRules.hard_limit;
    r.started_at = kNow.wall - kRules.hard_limit;
  };
  const auto manual_agent = [](Recording& r) { r.remote_triggered = false; };
  const auto no_attempts_left = [](Recording& r) { r.start_attempts = kRules.start_retry.max_attempts; };
  const MediaFile segment{"camera0_2026-01-01_00-00-00.mp4", FileRole::segment, 100, 30.0};

  return {
      {starting, "started", recording, in_state(K::capture, starting), ev::Started{},
       [](const Step& s) {
         CHECK(s.recording.started_at);
         CHECK(publishes(s, Notice::started));
       }},
      {starting, "start_failed", starting, in_state(K::capture, starting), ev::StartFailed{"device busy"},
       [](const Step& s) {
         const auto* arm = std::get_if<fx::ArmDeadline>(&s.effects.back());
         REQUIRE(arm);
         CHECK(arm->kind == D::retry);
         CHECK(arm->at == kNow.mono + 5s);
       }},
      {starting, "start_failed", failed, with(in_state(K::capture, starting), no_attempts_left),
       ev::StartFailed{"device busy"},
       [](const Step& s) {
         CHECK(s.recording.outcome == Outcome::failed);
         CHECK(has_effect<fx::Alert>(s));
       }},
      {starting, "deadline:start_timeout", starting, in_state(K::agent, starting), ev::DeadlineReached{D::start_timeout}},
      {starting, "deadline:start_timeout", failed, with(in_state(K::agent, starting), no_attempts_left),
       ev::DeadlineReached{D::start_timeout}},
      {starting, "deadline:retry", starting, in_state(K::capture, starting), ev::DeadlineReached{D::retry},
       [](const Step& s) {
         CHECK(has_effect<fx::StartProducer>(s));
         CHECK(s.recording.start_attempts == 2);
       }},
      {starting, "stop_requested", failed, in_state(K::capture, starting), ev::StopRequested{},
       [](const Step& s) { CHECK(has_effect<fx::StopProducer>(s)); }},
      {recording, "chunk_stored", recording, in_state(K::stream, recording), ev::ChunkStored{0, 10},
       [](const Step& s) { CHECK(s.recording.ledger.total_bytes() == 10); }},
      {recording, "status_reported", recording, with(in_state(K::agent, recording), stale_agent), ev::StatusReported{},
       [](const Step& s) { CHECK(s.recording.timing.last_activity == kNow.mono); }},
      {recording, "segment_opened", recording, in_state(K::capture, recording), ev::SegmentOpened{"cam/b.mp4"},
       [](const Step& s) {
         CHECK(s.recording.current_file == "cam/b.mp4");
         CHECK(s.effects.empty());
       }},
      {recording, "segment_closed", recording, in_state(K::capture, recording), ev::SegmentClosed{segment},
       [](const Step& s) { CHECK(s.recording.files.size() == 1); }},
      {recording, "resumed", recording, in_state(K::stream, recording), ev::Resumed{}},
      {recording, "deadline:rotation", recording, in_state(K::capture, recording), ev::DeadlineReached{D::rotation},
       [](const Step& s) { CHECK(has_effect<fx::RotateSegment>(s)); }},
      {recording, "disconnected", interrupted, in_state(K::stream, recording), ev::Disconnected{}},
      {recording, "deadline:stale", stale, with(in_state(K::agent, recording), stale_agent),
       ev::DeadlineReached{D::stale}, [](const Step& s) { CHECK(has_effect<fx::Alert>(s)); }},
      {recording, "stop_requested", finalizing, in_state(K::stream, recording), ev::StopRequested{},
       [](const Step& s) { CHECK(has_effect<fx::Finalize>(s)); }},
      {recording, "stop_requested", stopping, in_state(K::capture, recording), ev::StopRequested{},
       [](const Step& s) { CHECK(has_effect<fx::StopProducer>(s)); }},
      {recording, "deadline:limit", finalizing, with(in_state(K::stream, recording), over_limit),
       ev::DeadlineReached{D::limit}},
      {recording, "deadline:limit", stopping, with(in_state(K::capture, recording), over_limit),
       ev::DeadlineReached{D::limit}},
      {recording, "deadline:limit", ready,
       with(with(in_state(K::agent, recording), over_limit), manual_agent), ev::DeadlineReached{D::limit},
       [](const Step& s) { CHECK_FALSE(has_effect<fx::StopProducer>(s)); }},
      {recording, "deadline:scheduled_end", stopping,
       with(in_state(K::capture, recording), [](Recording& r) { r.expected_duration = 600s; }),
       ev::DeadlineReached{D::scheduled_end}},
      {recording, "stop_confirmed", ready, in_state(K::agent, recording), ev::StopConfirmed{}},
      {recording, "stop_confirmed", failed, in_state(K::agent, recording), failed_stop()},
      {recording, "premature_stop_reported", ready, in_state(K::agent, recording), ev::PrematureStopReported{},
       [](const Step& s) { CHECK(s.recording.outcome == Outcome::stopped_premature); }},
      {recording, "producer_failed", finalizing, in_state(K::capture, recording), ev::ProducerFailed{"device gone"},
       [](const Step& s) { CHECK(s.recording.stop_reason == StopReason::error); }},
      {interrupted, "chunk_stored", interrupted, in_state(K::stream, interrupted), ev::ChunkStored{0, 1}},
      {interrupted, "resumed", recording, in_state(K::stream, interrupted), ev::Resumed{}},
      {interrupted, "deadline:grace", finalizing, in_state(K::stream, interrupted), ev::DeadlineReached{D::grace},
       [](const Step& s) { CHECK(s.recording.stop_reason == StopReason::disconnect); }},
      {interrupted, "deadline:limit", finalizing, with(in_state(K::stream, interrupted), over_limit),
       ev::DeadlineReached{D::limit}},
      {interrupted, "stop_requested", finalizing, in_state(K::stream, interrupted), ev::StopRequested{}},
      {stale, "status_reported", recording, in_state(K::agent, stale), ev::StatusReported{},
       [](const Step& s) { CHECK(publishes(s, Notice::revived)); }},
      {stale, "stop_confirmed", ready, in_state(K::agent, stale), ev::StopConfirmed{}},
      {stale, "stop_confirmed", failed, in_state(K::agent, stale), failed_stop()},
      {stale, "premature_stop_reported", ready, in_state(K::agent, stale), ev::PrematureStopReported{}},
      {stale, "stop_requested", stopping, in_state(K::agent, stale), ev::StopRequested{}},
      {stale, "deadline:stale", failed, with(in_state(K::agent, stale), given_up), ev::DeadlineReached{D::stale},
       [](const Step& s) {
         CHECK(s.recording.stop_reason == StopReason::stale);
         CHECK(s.recording.outcome == Outcome::failed);
         CHECK(has_effect<fx::Alert>(s));
         CHECK(publishes(s, Notice::failed));
       }},
      {stale, "deadline:limit", stopping, with(in_state(K::agent, stale), over_limit), ev::DeadlineReached{D::limit}},
      {stale, "deadline:limit", ready, with(with(in_state(K::agent, stale), over_limit), manual_agent),
       ev::DeadlineReached{D::limit}},
      {stopping, "segment_opened", stopping, in_state(K::capture, stopping), ev::SegmentOpened{"cam/c.mp4"},
       [](const Step& s) { CHECK(s.recording.current_file == "cam/c.mp4"); }},
      {stopping, "segment_closed", stopping, in_state(K::capture, stopping), ev::SegmentClosed{segment}},
      {stopping, "stop_confirmed", finalizing, in_state(K::capture, stopping), ev::StopConfirmed{}},
      {stopping, "stop_confirmed", ready, in_state(K::agent, stopping), ev::StopConfirmed{}},
      {stopping, "stop_confirmed", failed, in_state(K::agent, stopping), failed_stop()},
      {stopping, "premature_stop_reported", ready, in_state(K::agent, stopping), ev::PrematureStopReported{}},
      {stopping, "producer_failed", finalizing, in_state(K::capture, stopping), ev::ProducerFailed{"EOS lost"}},
      {stopping, "deadline:stop_timeout", finalizing, in_state(K::capture, stopping), ev::DeadlineReached{D::stop_timeout}},
      {stopping, "deadline:stop_timeout", failed, in_state(K::agent, stopping), ev::DeadlineReached{D::stop_timeout}},
      {finalizing, "segment_closed", finalizing, in_state(K::capture, finalizing), ev::SegmentClosed{segment}},
      {finalizing, "finalized", processing, in_state(K::stream, finalizing), ev::Finalized{{}, 10.0, true},
       [](const Step& s) { CHECK(has_effect<fx::Process>(s)); }},
      {finalizing, "finalized", ready, in_state(K::stream, finalizing), ev::Finalized{{}, 10.0, false},
       [](const Step& s) { CHECK(s.recording.outcome == Outcome::completed); }},
      {finalizing, "finalized", failed,
       with(in_state(K::stream, finalizing), [](Recording& r) { r.missing_chunks = {3}; }),
       ev::Finalized{{}, 10.0, true}, [](const Step& s) { CHECK_FALSE(has_effect<fx::Process>(s)); }},
      {finalizing, "finalize_failed", failed, in_state(K::stream, finalizing), ev::FinalizeFailed{"disk error"}},
      {processing, "processed", ready, in_state(K::stream, processing), ev::Processed{}},
      {processing, "processing_failed", failed, in_state(K::stream, processing), ev::ProcessingFailed{"not media"}},
      {recording, "recovered", interrupted, in_state(K::stream, recording), ev::Recovered{ChunkLedger{}},
       [](const Step& s) {
         CHECK(s.recording.timing.started == kNow.mono - 10min);
         CHECK(has_effect<fx::ArmDeadline>(s));
       }},
      {recording, "recovered", recording, in_state(K::agent, recording), ev::Recovered{}},
      {recording, "recovered", starting, in_state(K::capture, recording), ev::Recovered{},
       [](const Step& s) {
         CHECK(has_effect<fx::StartProducer>(s));
         CHECK(s.recording.started_at == kNow.wall - 10min);
       }},
      {interrupted, "recovered", interrupted, in_state(K::stream, interrupted), ev::Recovered{ChunkLedger{}}},
      {stale, "recovered", stale, in_state(K::agent, stale), ev::Recovered{}},
      {starting, "recovered", starting, in_state(K::capture, starting), ev::Recovered{}},
      {starting, "recovered", interrupted, in_state(K::stream, starting), ev::Recovered{ChunkLedger{}},
       [](const Step& s) {
         CHECK(s.recording.started_at == s.recording.created_at);
         CHECK(s.recording.timing.started == kNow.mono - 10min);
       }},
      {stopping, "recovered", stopping, in_state(K::agent, stopping), ev::Recovered{},
       [](const Step& s) { CHECK(has_effect<fx::StopProducer>(s)); }},
      {stopping, "recovered", finalizing, in_state(K::capture, stopping), ev::Recovered{}},
      {finalizing, "recovered", finalizing, in_state(K::stream, finalizing), ev::Recovered{ChunkLedger{}},
       [](const Step& s) { CHECK(has_effect<fx::Finalize>(s)); }},
      {processing, "recovered", processing, in_state(K::stream, processing), ev::Recovered{ChunkLedger{}},
       [](const Step& s) { CHECK(has_effect<fx::Process>(s)); }},
      {ready, "delete_requested", deleted, in_state(K::stream, ready), ev::DeleteRequested{},
       [](const Step& s) { CHECK(has_effect<fx::DeleteMedia>(s)); }},
      {failed, "delete_requested", deleted, in_state(K::stream, failed), ev::DeleteRequested{}},
      {ready, "upload_failed", failed, in_state(K::agent, ready), ev::UploadFailed{"the CDN lost it"},
       [](const Step& s) {
         CHECK(s.recording.outcome == Outcome::failed);
         CHECK(s.recording.error == "the upload failed: the CDN lost it");
         CHECK(publishes(s, Notice::failed));
         CHECK(has_effect<fx::Alert>(s));
       }},
  };
}

}  // namespace

TEST_CASE("every row of the transition table is driven and lands where the table says", "[state_machine]") {
  std::set<std::tuple<State, std::string, State>> rows;
  for (const TransitionRow& row : transition_table()) {
    INFO(to_string(row.from) << " --" << row.event << "--> " << to_string(row.to));
    CHECK(rows.emplace(row.from, std::string(row.event), row.to).second);  // (from, event, to) is unique
  }

  std::set<std::tuple<State, std::string, State>> driven;
  for (const Case& c : cases()) {
    INFO(to_string(c.from) << " --" << c.event << "--> " << to_string(c.to));
    CHECK(rows.contains({c.from, c.event, c.to}));
    CHECK(driven.emplace(c.from, c.event, c.to).second);
    REQUIRE(c.recording.state == c.from);
    CHECK(event_name(c.input) == c.event);
    auto step = apply(c.recording, c.input, kRules, kNow);
    REQUIRE(step);
    CHECK(step->recording.state == c.to);
    CHECK((step->recording.state != c.recording.state) == step->transition.has_value());
    c.also(*step);
  }
  CHECK(driven == rows);
}
