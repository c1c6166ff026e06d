// Seed 000's testing scenarios 1-6, at core level: a remote recorder agent reports over
// time; the fake clock covers hours in microseconds.

#include <catch2/catch.hpp>

#include "recorder/testing/fakes.hpp"

using namespace recorder::core;
using namespace recorder::testing;
using namespace std::chrono_literals;

namespace {

AgentReport report(std::optional<double> actual = std::nullopt, std::optional<Seconds> expected = std::nullopt) {
  AgentReport r;
  r.agent_id = "room-1";
  r.subject = "Team Standup Meeting";
  r.organizer = "john@company.com";
  r.start_time = "2025-10-30T15:00:00Z";
  r.duration_actual = actual;
  r.duration_expected = expected;
  return r;
}

AgentStart remote_start(Seconds expected) {
  return AgentStart{"room-1", "Team Standup Meeting", "john@company.com", "2025-10-30T15:00:00Z", expected, ""};
}

// The agent sends recording_status every 5 s for `d`.
void report_every_5s(Harness& h, Duration d) {
  for (Duration t{}; t < d; t += 5s) {
    h.run_for(5s);
    REQUIRE(h.service.agent_status(report()));
  }
}

}  // namespace

TEST_CASE("seed 000 test 1: a remote recording completes normally", "[agent][seed000]") {
  Harness h;
  auto started = h.service.start_agent_recording(remote_start(3600s));
  REQUIRE(started);
  const RecordingId id = started->id;
  CHECK(started->state == State::starting);
  REQUIRE(h.agents.sent.size() == 1);
  CHECK(h.agents.sent[0].command == AgentCommandKind::start_recording);

  REQUIRE(h.service.agent_start_confirmed(report())->state == State::recording);
  report_every_5s(h, 3600s);
  CHECK(h.get(id).state == State::recording);
  CHECK(h.alerts.alerts.empty());

  AgentReport stop = report(3605, 3600s);
  stop.reason = StopReason::completed;
  auto done = h.service.agent_stop_confirmed(stop);
  REQUIRE(done);
  CHECK(done->state == State::ready);
  CHECK(done->outcome == Outcome::completed);
  CHECK(done->stop_reason == StopReason::completed);
  CHECK(*done->duration_seconds == Approx(3605));
  CHECK(done->expected_duration == 3600s);
  CHECK(h.repository.rows.at(id).outcome == Outcome::completed);
  CHECK(h.scheduler.size() == 0);
}

TEST_CASE("seed 000 test 2: a manual stop after 10 minutes is premature - or early when confirmed", "[agent][seed000]") {
  Harness h;
  const RecordingId id = h.service.start_agent_recording(remote_start(3600s))->id;
  REQUIRE(h.service.agent_start_confirmed(report()));
  report_every_5s(h, 600s);

  SECTION("recording_stopped_premature") {
    AgentReport premature = report(600, 3600s);
    premature.reason_text = "User stopped recording manually or error occurred";
    auto r = h.service.agent_premature_stop(premature);
    REQUIRE(r);
    CHECK(r->state == State::ready);
    CHECK(r->outcome == Outcome::stopped_premature);
    CHECK(r->stop_reason == StopReason::premature);
    CHECK(*r->duration_seconds == Approx(600));
    CHECK(h.alerts.any_containing("stopped prematurely"));
    auto events = h.repository.events(id);
    REQUIRE(events);
    CHECK(events->back().transition.detail == premature.reason_text);
  }
  SECTION("stop_confirmed with reason manual, 3000 s short") {
    AgentReport stop = report(600, 3600s);
    stop.reason = StopReason::manual;
    auto r = h.service.agent_stop_confirmed(stop);
    REQUIRE(r);
    CHECK(r->outcome == Outcome::stopped_early);
  }
}

TEST_CASE("seed 000 test 3: a crashed agent is detected as stale after 60 s and alerted", "[agent][seed000]") {
  Harness h;
  const RecordingId id = h.service.start_agent_recording(remote_start(3600s))->id;
  REQUIRE(h.service.agent_start_confirmed(report()));
  report_every_5s(h, 300s);

  h.run_for(59s);
  CHECK(h.get(id).state == State::recording);
  h.run_for(1s);
  CHECK(h.get(id).state == State::stale);
  CHECK(h.alerts.any_containing("Stale recording detected: " + id));
  CHECK(h.events.for_recording(id).back() == Notice::stale);
  CHECK(h.repository.rows.at(id).state == State::stale);

  // A later status revives it.
  REQUIRE(h.service.agent_status(report()));
  CHECK(h.get(id).state == State::recording);
  CHECK(h.events.for_recording(id).back() == Notice::revived);
}

TEST_CASE("seed 000 test 4: after a network cut the agent reports the premature stop when it is back",
          "[agent][seed000]") {
  Harness h;
  const RecordingId id = h.service.start_agent_recording(remote_start(3600s))->id;
  REQUIRE(h.service.agent_start_confirmed(report()));
  report_every_5s(h, 600s);
  h.run_for(120s);  // no network: no status
  CHECK(h.get(id).state == State::stale);

  auto r = h.service.agent_premature_stop(report(700, 3600s));
  REQUIRE(r);
  CHECK(r->state == State::ready);
  CHECK(r->outcome == Outcome::stopped_premature);
  CHECK(h.alerts.any_containing("stopped prematurely"));
}

TEST_CASE("seed 000 test 5: a remote recording of 4 h is stopped at exactly 3 h", "[agent][seed000]") {
  Harness h;
  const RecordingId id = h.service.start_agent_recording(remote_start(14400s))->id;
  REQUIRE(h.service.agent_start_confirmed(report()));
  const MonoTime started = h.clock.monotonic_now();
  report_every_5s(h, 10800s - 5s);
  h.run_for(4999ms);
  CHECK(h.get(id).state == State::recording);
  CHECK(h.agents.sent.size() == 1);

  h.run_for(1ms);
  CHECK(h.clock.monotonic_now() - started == 10800s);
  CHECK(h.get(id).state == State::stopping);
  REQUIRE(h.agents.sent.size() == 2);
  CHECK(h.agents.sent[1].command == AgentCommandKind::stop_recording);
  CHECK(h.agents.sent[1].reason == StopReason::automatic_limit);

  AgentReport premature = report(10800, 14400s);
  premature.reason = StopReason::automatic_limit;
  auto r = h.service.agent_premature_stop(premature);
  REQUIRE(r);
  CHECK(r->state == State::ready);
  CHECK(r->outcome == Outcome::stopped_premature);
  CHECK(r->stop_reason == StopReason::automatic_limit);
  CHECK(*r->duration_seconds == Approx(10800));
}

TEST_CASE("seed 000 test 6: a manual recording reaching 3 h is ended without a command", "[agent][seed000]") {
  Harness h;
  auto adopted = h.service.agent_start_confirmed(report());  // started on the agent itself
  REQUIRE(adopted);
  const RecordingId id = adopted->id;
  CHECK_FALSE(adopted->remote_triggered);
  CHECK(adopted->state == State::recording);
  report_every_5s(h, 10800s);

  const Recording r = h.get(id);
  CHECK(r.state == State::ready);
  CHECK(r.stop_reason == StopReason::automatic_limit);
  CHECK(r.outcome == Outcome::completed);
  CHECK(*r.duration_seconds == Approx(10800));
  CHECK(h.agents.sent.empty());  // no websocket notification for a manual recording
  CHECK(h.repository.rows.at(id).state == State::ready);
}

TEST_CASE("an agent that never confirms a start is retried - then failed with an alert", "[agent]") {
  Harness h;
  const RecordingId id = h.service.start_agent_recording(remote_start(3600s))->id;
  h.run_for(30s);  // start timeout
  CHECK(h.get(id).state == State::starting);
  h.run_for(5s);  // back-off, then the second attempt
  CHECK(h.agents.sent.size() == 2);
  h.run_for(30s + 10s);  // timeout, back-off, third attempt
  CHECK(h.agents.sent.size() == 3);
  h.run_for(30s);
  const Recording r = h.get(id);
  CHECK(r.state == State::failed);
  CHECK(r.error.find("after 3 attempts") != std::string::npos);
  CHECK(h.alerts.count(Severity::critical) == 1);
}

TEST_CASE("a remote start for an agent that is not connected is refused and creates nothing", "[agent]") {
  Harness h;
  h.agents.online = false;
  auto refused = h.service.start_agent_recording(remote_start(3600s));
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::agent_unavailable);
  CHECK(refused.error().message == "agent 'room-1' is not connected: it cannot be told to start recording");
  CHECK(h.service.live().empty());
  CHECK(h.agents.sent.empty());
}

TEST_CASE("an agent that goes away after the start is retried with back-off, then fails", "[agent]") {
  Harness h;
  const RecordingId id = h.service.start_agent_recording(remote_start(3600s))->id;
  h.agents.online = false;
  h.run_for(30s);  // no start_confirmed: the retry finds the agent gone
  CHECK(h.get(id).state == State::starting);
  h.run_for(5s + 10s + 30s);
  CHECK(h.get(id).state == State::failed);
  CHECK(h.get(id).error.find("not connected") != std::string::npos);
  CHECK(h.alerts.count(Severity::critical) == 1);
}

TEST_CASE("the same meeting written with or without an offset is one recording", "[agent]") {
  Harness h;
  AgentReport naive = report();
  naive.start_time = "2025-10-30T15:00:00";
  const RecordingId id = h.service.agent_start_confirmed(naive)->id;
  for (const char* same : {"2025-10-30T15:00:00Z", "2025-10-30T17:00:00+02:00", "2025-10-30T10:00:00-0500"}) {
    AgentReport r = report();
    r.start_time = same;
    auto status = h.service.agent_status(r);
    REQUIRE(status);
    CHECK(status->id == id);
  }
  CHECK(h.get(id).meta.start_time == "2025-10-30T15:00:00Z");
  CHECK(h.service.live().size() == 1);

  AgentReport garbage = report();
  garbage.start_time = "tomorrow at three";
  auto refused = h.service.agent_status(garbage);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::invalid_argument);
  CHECK(refused.error().message.starts_with("start_time: 'tomorrow at three' is not an ISO 8601 date and time"));
  CHECK(h.service.live().size() == 1);
  CHECK(normalize_start_time("2025-10-30T15:00:00.250+01:00").value() == "2025-10-30T14:00:00.25Z");
}

TEST_CASE("the agent's status, elapsed, remaining and timestamp are kept", "[agent]") {
  Harness h;
  AgentReport first = report();
  first.timestamp = "2025-10-30T15:00:01.000001";
  const RecordingId id = h.service.agent_start_confirmed(first)->id;
  CHECK(h.get(id).agent.timestamp == "2025-10-30T15:00:01.000001");
  AgentReport status = report();
  status.status = "recording";
  status.elapsed = 310;
  status.remaining = 3290;
  status.timestamp = "2025-10-30T15:05:10.123456";
  REQUIRE(h.service.agent_status(status));
  const Recording r = h.get(id);
  CHECK(r.agent == AgentReportState{"recording", 310.0, 3290.0, "2025-10-30T15:05:10.123456"});
}

TEST_CASE("a status before start_confirmed starts the recording - the confirmation was lost", "[agent]") {
  Harness h;
  const RecordingId id = h.service.start_agent_recording(remote_start(3600s))->id;
  REQUIRE(h.get(id).state == State::starting);
  REQUIRE(h.service.agent_status(report()));
  CHECK(h.get(id).state == State::recording);
}

TEST_CASE("a stale recording that stays silent fails with reason stale", "[agent]") {
  Harness h;
  const RecordingId id = h.service.agent_start_confirmed(report())->id;
  h.run_for(60s);
  REQUIRE(h.get(id).state == State::stale);
  h.run_for(h.rules.stale_give_up - 1s);
  CHECK(h.get(id).state == State::stale);
  h.run_for(1s);
  const Recording r = h.get(id);
  CHECK(r.state == State::failed);
  CHECK(r.stop_reason == StopReason::stale);
  CHECK(r.error.find("given up") != std::string::npos);
  CHECK(h.alerts.count(Severity::critical) == 1);
}

TEST_CASE("stop_confirmed with success is completed whatever its reason - unless manual and short", "[agent]") {
  // Seed 000's handle_stop_confirmed, exactly.
  const auto outcome_of = [](StopReason reason, double actual) {
    Harness h;
    REQUIRE(h.service.agent_start_confirmed(report()));
    AgentReport stop = report(actual, 3600s);
    stop.reason = reason;
    return h.service.agent_stop_confirmed(stop)->outcome;
  };
  CHECK(outcome_of(StopReason::completed, 3605) == Outcome::completed);
  CHECK(outcome_of(StopReason::manual, 600) == Outcome::stopped_early);
  CHECK(outcome_of(StopReason::manual, 3550) == Outcome::completed);
  CHECK(outcome_of(StopReason::premature, 600) == Outcome::completed);
  CHECK(outcome_of(StopReason::error, 600) == Outcome::completed);
}

TEST_CASE("the uploaded video is attached once - the same again changes nothing", "[agent]") {
  Harness h;
  const RecordingId id = h.service.agent_start_confirmed(report())->id;
  REQUIRE(h.service.agent_stop_confirmed(report(3605, 3600s)));
  auto attached = h.service.attach_video(id, UploadedVideo{"https://files.example/standup.mp4", 123456789});
  REQUIRE(attached);
  CHECK(attached->video.url == "https://files.example/standup.mp4");
  CHECK(attached->video.file_size == 123456789u);
  CHECK(h.get(id).video == attached->video);
  CHECK(h.service.attach_video(id, attached->video)->video == attached->video);
  CHECK(h.service.attach_video(id, UploadedVideo{"", 1}).error().code == Errc::invalid_argument);
  CHECK(h.service.attach_video("nobody", attached->video).error().code == Errc::not_found);
}

TEST_CASE("an agent that does not confirm a stop fails the recording after the stop timeout", "[agent]") {
  Harness h;
  const RecordingId id = h.service.start_agent_recording(remote_start(3600s))->id;
  REQUIRE(h.service.agent_start_confirmed(report()));
  REQUIRE(h.service.stop(id));
  CHECK(h.get(id).state == State::stopping);
  h.run_for(30s);
  CHECK(h.get(id).state == State::failed);
  CHECK(h.alerts.any_containing("did not confirm the stop"));
}

TEST_CASE("one live recording per agent", "[agent]") {
  Harness h;
  const RecordingId id = h.service.start_agent_recording(remote_start(3600s))->id;
  auto second = h.service.start_agent_recording(remote_start(3600s));
  REQUIRE_FALSE(second);
  CHECK(second.error().code == Errc::device_busy);
  CHECK(second.error().related_id == id);
}
