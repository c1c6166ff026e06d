// What Slack and e-mail say: plain text that names the recording, its subject and
// organizer, the state, the reason and what to do.

#include <catch2/catch.hpp>

#include "recorder/core/app/notice_text.hpp"

using namespace recorder::core;

namespace {

Recording meeting() {
  Recording r;
  r.id = "rec-9";
  r.kind = SourceKind::agent;
  r.state = State::ready;
  r.outcome = Outcome::stopped_premature;
  r.stop_reason = StopReason::premature;
  r.meta.subject = "Board meeting";
  r.meta.organizer = "chair@example.org";
  r.meta.device = "room-3";
  r.duration_seconds = 754.0;
  return r;
}

bool has(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("an alert names the recording - its subject and organizer - the state - the reason - what to do",
          "[notice_text]") {
  const Alert a{"al-1", WallTime{}, Severity::warning, "Recording stopped prematurely: expected 3600 s, actual 754 s",
                RecordingId{"rec-9"}, "recording"};
  const auto t = describe(a, meeting(), "https://rec.example/media/rec-9/original.webm?sig=x");
  CHECK(t.subject == "[warning] Recording stopped prematurely: expected 3600 s, actual 754 s");
  INFO(t.body);
  CHECK(has(t.body, "Recording rec-9 (\"Board meeting\", organizer chair@example.org, agent room-3)"));
  CHECK(has(t.body, "State: ready"));
  CHECK(has(t.body, "Stop reason: premature"));
  CHECK(has(t.body, "Duration: 12 min 34 s"));
  CHECK(has(t.body, "Download (signed, 24 hours): https://rec.example/media/rec-9/original.webm?sig=x"));
  CHECK(has(t.body, "What to do: The recording stopped before its expected end"));
  CHECK(has(t.body, "Alert al-1 at "));
}

TEST_CASE("an alert whose recording cannot be read still says what it knows", "[notice_text]") {
  const Alert a{"al-2", WallTime{}, Severity::critical, "Could not save recording r-1: database down",
                RecordingId{"r-1"}, "store"};
  const auto t = describe(a, std::nullopt, "");
  CHECK(t.subject == "[critical] Could not save recording r-1: database down");
  CHECK(has(t.body, "critical alert about Recording r-1:"));
  CHECK(has(t.body, "What to do: Check the database"));
  CHECK_FALSE(has(t.body, "Download"));
}

TEST_CASE("ready and failed recordings read as such", "[notice_text]") {
  Recording r = meeting();
  const auto ready = describe(RecordingNotice{"n", WallTime{}, Notice::ready, r}, std::nullopt, "");
  CHECK(ready.subject == "Recording ready: Board meeting");
  CHECK(has(ready.body, "is ready."));
  r.state = State::failed;
  r.error = "the agent reported failure";
  const auto failed = describe(RecordingNotice{"n", WallTime{}, Notice::failed, r}, std::nullopt, "");
  CHECK(failed.subject == "Recording failed: Board meeting");
  CHECK(has(failed.body, "Error: the agent reported failure"));
  CHECK(has(failed.body, "What to do: "));
}
