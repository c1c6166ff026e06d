#include <catch2/catch.hpp>

#include "recorder/core/domain/state_machine.hpp"

using namespace recorder::core;
using namespace std::chrono_literals;

namespace {

const Rules kRules{};
const Now kNow{MonoTime{} + 1000h, WallTime{} + 500000h};

Recording stream_recording() {
  Recording r = make_recording(NewRecording{"s1", SourceKind::stream, {}, "wav", std::nullopt, false, StreamLimits{}},
                               Now{kNow.mono - 1min, kNow.wall - 1min});
  auto step = apply(r, ev::Started{}, kRules, Now{kNow.mono - 1min, kNow.wall - 1min});
  REQUIRE(step);
  return step->recording;
}

}  // namespace

TEST_CASE("seed 000's classification of how a recording ended", "[classify]") {
  const Seconds threshold = 60s;
  SECTION("a stop confirmed as completed is completed") {
    CHECK(classify(StopReason::completed, 3600s, 3605.0, threshold) == Outcome::completed);
  }
  SECTION("manual and more than 60 s short of the expected duration is stopped_early") {
    CHECK(classify(StopReason::manual, 3600s, 600.0, threshold) == Outcome::stopped_early);
    CHECK(classify(StopReason::manual, 3600s, 3540.0, threshold) == Outcome::completed);  // exactly 60 s short
    CHECK(classify(StopReason::manual, 3600s, 3539.0, threshold) == Outcome::stopped_early);
  }
  SECTION("manual without an expected duration is completed") {
    CHECK(classify(StopReason::manual, std::nullopt, 600.0, threshold) == Outcome::completed);
  }
  SECTION("the hard limit before the expected end is premature, without one it completes") {
    CHECK(classify(StopReason::automatic_limit, 14400s, 10800.0, threshold) == Outcome::stopped_premature);
    CHECK(classify(StopReason::automatic_limit, std::nullopt, 10800.0, threshold) == Outcome::completed);
  }
  SECTION("an error is a failure; the server's own reasons are premature") {
    CHECK(classify(StopReason::error, std::nullopt, 1.0, threshold) == Outcome::failed);
    for (StopReason r : {StopReason::premature, StopReason::disconnect, StopReason::stale,
                         StopReason::storage_critical, StopReason::shutdown, StopReason::size_limit}) {
      CHECK(classify(r, std::nullopt, 1.0, threshold) == Outcome::stopped_premature);
    }
  }
}

TEST_CASE("chunk admission enforces the stream's limits and assigns indices", "[admission]") {
  Recording r = stream_recording();
  r.limits = StreamLimits{3600s, 100, 250, 10};

  SECTION("a chunk without an index gets the next one") {
    auto a = admit_chunk(r, std::nullopt, 10, kRules, kNow);
    REQUIRE(a);
    CHECK(a->index == 0);
    CHECK_FALSE(a->duplicate);
    r.ledger.add(0, 10);
    r.ledger.add(5, 10);
    CHECK(admit_chunk(r, std::nullopt, 10, kRules, kNow)->index == 6);
  }
  SECTION("a chunk already held is a duplicate, even past the total limit") {
    r.ledger.add(0, 200);
    auto a = admit_chunk(r, 0, 100, kRules, kNow);
    REQUIRE(a);
    CHECK(a->duplicate);
  }
  SECTION("an empty chunk is refused") {
    CHECK(admit_chunk(r, std::nullopt, 0, kRules, kNow).error().code == Errc::invalid_argument);
  }
  SECTION("a chunk over the chunk limit is refused and names both sizes") {
    auto a = admit_chunk(r, std::nullopt, 101, kRules, kNow);
    REQUIRE_FALSE(a);
    CHECK(a.error().code == Errc::chunk_too_large);
    CHECK(a.error().message.find("101") != std::string::npos);
    CHECK(a.error().message.find("100") != std::string::npos);
  }
  SECTION("a chunk that would pass the total limit is refused") {
    r.ledger.add(0, 100);
    r.ledger.add(1, 100);
    CHECK(admit_chunk(r, std::nullopt, 50, kRules, kNow));
    CHECK(admit_chunk(r, std::nullopt, 51, kRules, kNow).error().code == Errc::total_size_exceeded);
  }
  SECTION("an index too far ahead is refused") {
    CHECK(admit_chunk(r, 10, 1, kRules, kNow));
    CHECK(admit_chunk(r, 11, 1, kRules, kNow).error().code == Errc::index_out_of_range);
  }
  SECTION("past the duration limit a chunk is refused") {
    Now late{r.timing.started + 3600s, kNow.wall + 3600s};
    CHECK(admit_chunk(r, std::nullopt, 1, kRules, late).error().code == Errc::duration_exceeded);
  }
  SECTION("a stopped recording takes no chunks, and says why") {
    auto stopped = apply(r, ev::StopRequested{StopReason::size_limit}, kRules, kNow);
    REQUIRE(stopped);
    CHECK(admit_chunk(stopped->recording, std::nullopt, 1, kRules, kNow).error().code == Errc::total_size_exceeded);
    auto manual = apply(r, ev::StopRequested{}, kRules, kNow);
    CHECK(admit_chunk(manual->recording, std::nullopt, 1, kRules, kNow).error().code == Errc::invalid_state);
  }
  SECTION("an interrupted recording asks for a resume") {
    auto dropped = apply(r, ev::Disconnected{}, kRules, kNow);
    REQUIRE(dropped);
    auto a = admit_chunk(dropped->recording, std::nullopt, 1, kRules, kNow);
    CHECK(a.error().code == Errc::invalid_state);
    CHECK(a.error().message.find("resume") != std::string::npos);
  }
}

TEST_CASE("stop twice - finalize once", "[state_machine]") {
  Recording r = stream_recording();
  auto first = apply(r, ev::StopRequested{}, kRules, kNow);
  REQUIRE(first);
  CHECK(first->recording.state == State::finalizing);
  auto second = apply(first->recording, ev::StopRequested{}, kRules, kNow);
  REQUIRE(second);
  CHECK(second->effects.empty());
  CHECK_FALSE(second->transition);
  auto done = apply(first->recording, ev::Finalized{}, kRules, kNow);
  REQUIRE(done);
  CHECK(done->recording.state == State::ready);
  auto again = apply(done->recording, ev::Finalized{}, kRules, kNow);
  REQUIRE(again);
  CHECK(again->effects.empty());
  CHECK(again->recording == done->recording);
}

TEST_CASE("an event that does not fit the recording is an error that changes nothing", "[state_machine]") {
  Recording r = stream_recording();
  auto status = apply(r, ev::StatusReported{}, kRules, kNow);
  REQUIRE_FALSE(status);
  CHECK(status.error().code == Errc::invalid_state);
  CHECK(status.error().message.find("s1") != std::string::npos);

  auto stopped = apply(r, ev::StopRequested{}, kRules, kNow);
  auto del = apply(r, ev::DeleteRequested{}, kRules, kNow);
  REQUIRE_FALSE(del);
  CHECK(del.error().message.find("stop it before deleting") != std::string::npos);
  CHECK(apply(stopped->recording, ev::Resumed{}, kRules, kNow).error().code == Errc::invalid_state);
}

TEST_CASE("a deadline that fires early or late re-checks its condition", "[state_machine]") {
  Recording r = stream_recording();
  auto dropped = apply(r, ev::Disconnected{}, kRules, kNow);
  REQUIRE(dropped);
  // One millisecond before the grace ends: nothing happens.
  auto early = apply(dropped->recording, ev::DeadlineReached{DeadlineKind::grace}, kRules,
                     Now{kNow.mono + kRules.grace - 1ms, kNow.wall});
  REQUIRE(early);
  CHECK(early->recording.state == State::interrupted);
  // After a resume, the old grace deadline is harmless.
  auto back = apply(dropped->recording, ev::Resumed{}, kRules, kNow);
  auto late = apply(back->recording, ev::DeadlineReached{DeadlineKind::grace}, kRules, Now{kNow.mono + 1h, kNow.wall});
  REQUIRE(late);
  CHECK(late->recording.state == State::recording);
  CHECK(late->effects.empty());
}

TEST_CASE("an interrupted stream's duration ends when its connection dropped", "[state_machine]") {
  Recording r = stream_recording();  // started one minute before kNow
  auto dropped = apply(r, ev::Disconnected{}, kRules, kNow);
  auto expired = apply(dropped->recording, ev::DeadlineReached{DeadlineKind::grace}, kRules,
                       Now{kNow.mono + kRules.grace, kNow.wall + kRules.grace});
  REQUIRE(expired);
  CHECK(expired->recording.state == State::finalizing);
  CHECK(expired->recording.duration_seconds == Approx(60.0));
}

TEST_CASE("start retries back off exponentially up to a cap", "[retry]") {
  RetryPolicy p;
  CHECK(p.delay_after(1) == 5s);
  CHECK(p.delay_after(2) == 10s);
  CHECK(p.delay_after(3) == 20s);
  CHECK(p.delay_after(10) == 60s);
}

TEST_CASE("every state - reason and outcome round-trips through its name", "[names]") {
  for (int i = 0; i <= static_cast<int>(State::deleted); ++i) {
    auto s = static_cast<State>(i);
    CHECK(parse_state(to_string(s)) == s);
  }
  for (int i = 0; i <= static_cast<int>(StopReason::shutdown); ++i) {
    auto s = static_cast<StopReason>(i);
    CHECK(parse_stop_reason(to_string(s)) == s);
  }
  for (int i = 0; i <= static_cast<int>(Outcome::stopped_early); ++i) {
    auto s = static_cast<Outcome>(i);
    CHECK(parse_outcome(to_string(s)) == s);
  }
  CHECK_FALSE(parse_state("bogus"));
}
