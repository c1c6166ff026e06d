// The service among several instances (ADR 0017), on the core's fakes: media is written
// only while the leases are confirmed, a save refused for a lost lease steps the recording
// down, and a recording claimed from another instance is taken up as recovery does.

#include <functional>
#include <tuple>

#include <catch2/catch.hpp>

#include "recorder/core/app/lease_keeper.hpp"
#include "recorder/testing/fakes.hpp"

using namespace recorder::core;
using namespace recorder::testing;
using namespace std::chrono_literals;

namespace {

struct FakeLeases final : LeaseGuard {
  std::string id = "here";
  bool held = true;
  std::optional<Recording> claimable;
  const std::string& instance() const override { return id; }
  Result<void> confirmed() const override {
    if (held) return ok();
    return fail(Errc::unavailable, "instance here cannot confirm that it still holds its recordings");
  }
  Result<std::optional<Recording>> claim(const RecordingId& rid) override {
    if (claimable && claimable->id == rid) return std::exchange(claimable, std::nullopt);
    return fail(Errc::lease_lost, "recording " + rid + " is live on instance 'other'");
  }
  // What the holder does when asked; unset: it does not answer.
  std::function<Result<void>(const Recording&, CommandKind, const std::string&)> holder;
  std::vector<std::pair<CommandKind, std::string>> asked;  // kind, recording
  Result<void> ask_holder(const Recording& r, CommandKind kind, std::string argument) override {
    asked.emplace_back(kind, r.id);
    if (!holder) return fail(Errc::unavailable, "recording " + r.id + " is held by instance 'other', which did not answer");
    return holder(r, kind, argument);
  }
};

// A service of this instance over the harness's fakes (its store, chunks and clock).
struct Instance {
  Harness h;
  FakeLeases leases;
  RecordingService service{Ports{h.clock, h.scheduler, h.repository, h.repository, h.chunks, h.finalizer, h.capture,
                                 h.agents, h.storage, h.events, h.oplog, h.ids, &leases},
                           {}, {}};
};

}  // namespace

TEST_CASE("a new recording is held by this instance under epoch 1", "[cluster]") {
  Instance i;
  auto started = i.service.start_stream(StreamStart{"s1", "", "video/webm", "", {}});
  REQUIRE(started);
  CHECK(started->recording.lease == LeaseHolder{"here", 1});
  CHECK(i.h.repository.rows.at("s1").lease == LeaseHolder{"here", 1});
  CHECK(i.service.held_leases() == std::vector<HeldLease>{{"s1", 1}});
}

TEST_CASE("no chunk is written while the leases are not confirmed - it is refused and can be sent again",
          "[cluster]") {
  Instance i;
  REQUIRE(i.service.start_stream(StreamStart{"s1", "", "video/webm", "", {}}));
  REQUIRE(i.service.receive_chunk("s1", 0, bytes_of("a")));
  i.leases.held = false;
  auto refused = i.service.receive_chunk("s1", 1, bytes_of("b"));
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::unavailable);
  CHECK(i.h.chunks.puts == 1);
  i.leases.held = true;
  auto again = i.service.receive_chunk("s1", 1, bytes_of("b"));
  REQUIRE(again);
  CHECK_FALSE(again->duplicate);
  CHECK(i.h.chunks.concatenated("s1") == "ab");
}

TEST_CASE("a save refused for a lost lease steps down - nothing held back - no longer live here", "[cluster]") {
  Instance i;
  REQUIRE(i.service.start_stream(StreamStart{"s1", "", "video/webm", "", {}}));
  REQUIRE(i.service.receive_chunk("s1", 0, bytes_of("a")));
  const auto saves = i.h.repository.saves;
  i.h.repository.fenced.insert("s1");
  auto stopped = i.service.stop("s1");
  REQUIRE_FALSE(stopped);
  CHECK(stopped.error().code == Errc::lease_lost);
  CHECK(i.service.live().empty());
  CHECK(i.service.held_leases().empty());
  CHECK(i.service.flush() == 0);  // nothing held back to write over the new owner
  CHECK(i.h.repository.saves == saves);
  CHECK(i.h.finalizer.jobs.empty());
  CHECK(i.h.oplog.any_containing("recording s1: this instance stepped down"));
  // Its client's next chunk finds nothing live here: it must go where the recording is.
  auto chunk = i.service.receive_chunk("s1", 1, bytes_of("b"));
  REQUIRE_FALSE(chunk);
  CHECK(i.h.chunks.puts == 1);
}

TEST_CASE("a stream live on a dead instance is claimed by its client's start and resumed here", "[cluster]") {
  Instance i;
  Recording theirs;
  {
    Harness other;
    auto s = other.service.start_stream(StreamStart{"s1", "", "video/webm", "", {}});
    REQUIRE(s);
    REQUIRE(other.service.receive_chunk("s1", 0, bytes_of("a")));
    REQUIRE(other.service.receive_chunk("s1", 1, bytes_of("b")));
    theirs = other.get("s1");
    i.h.repository.rows["s1"] = theirs;
    i.h.chunks.chunks = other.chunks.chunks;
  }
  // While its owner's lease runs: refused, naming the holder.
  auto early = i.service.start_stream(StreamStart{"s1", "", "video/webm", "", {}});
  REQUIRE_FALSE(early);
  CHECK(early.error().code == Errc::lease_lost);
  CHECK_THAT(early.error().message, Catch::Contains("live on instance 'other'"));
  // Expired: claimed under a new epoch, resumed where its chunks end.
  theirs.lease = LeaseHolder{"here", 2};
  i.leases.claimable = theirs;
  auto resumed = i.service.start_stream(StreamStart{"s1", "", "video/webm", "", {}});
  REQUIRE(resumed);
  CHECK(resumed->resumed);
  CHECK(resumed->next_index == 2);
  CHECK(resumed->recording.lease == LeaseHolder{"here", 2});
  CHECK(i.h.repository.rows.at("s1").lease == LeaseHolder{"here", 2});
  REQUIRE(i.service.receive_chunk("s1", 2, bytes_of("c")));
  CHECK(i.h.chunks.concatenated("s1") == "abc");
}

namespace {

// The cluster's table as one instance sees it: what a renewal returns, what a sweep finds.
struct FakeClusterStore final : ClusterStore {
  bool down = false;
  std::optional<std::vector<HeldLease>> renewed;  // none: every lease asked about is renewed
  std::vector<Recording> expired;                 // handed out by the next sweep
  std::size_t sweeps = 0;
  bool leads = true;
  const RecordingService* service = nullptr;

  Result<void> join(const InstanceInfo&) override { return ok(); }
  Result<void> heartbeat() override { return down ? fail(Errc::unavailable, "database is down") : ok(); }
  Result<std::vector<HeldLease>> renew_leases() override {
    if (down) return fail(Errc::unavailable, "database is down");
    return renewed ? *renewed : service->held_leases();
  }
  Result<std::vector<Recording>> claim_expired(bool, std::size_t) override {
    ++sweeps;
    return std::exchange(expired, {});
  }
  Result<std::optional<Recording>> claim(const RecordingId&) override { return std::optional<Recording>{}; }
  Result<bool> lead() override { return leads; }
  Result<void> leave() override { return ok(); }
  Result<ClusterView> view() override { return ClusterView{}; }
  // Commands: those queued for this instance, what it answered, what it handed over.
  std::vector<ClusterCommand> inbox;
  std::vector<std::pair<std::uint64_t, Result<void>>> answers;
  std::vector<std::tuple<RecordingId, std::uint64_t, std::string>> handed;
  std::vector<std::pair<std::string, ClusterCommand>> sent;
  std::size_t polls_until_answer = 0;  // outcome() answers after this many polls
  std::size_t polls = 0;
  std::optional<Result<void>> reply;  // what the addressee answers; none: it never does
  Result<void> hand_over(const RecordingId& id, std::uint64_t epoch, const std::string& to) override {
    handed.emplace_back(id, epoch, to);
    return ok();
  }
  Result<std::uint64_t> send(const std::string& to, const ClusterCommand& c, Duration) override {
    sent.emplace_back(to, c);
    return sent.size();
  }
  Result<std::vector<ClusterCommand>> commands() override { return std::exchange(inbox, {}); }
  Result<void> answer(const ClusterCommand& c, const Result<void>& outcome) override {
    answers.emplace_back(c.seq, outcome);
    return ok();
  }
  Result<std::optional<Result<void>>> outcome(std::uint64_t) override {
    if (!reply || ++polls <= polls_until_answer) return std::optional<Result<void>>{};
    return std::optional<Result<void>>(*reply);
  }
};

// A live stream another instance held, as a sweep hands it to this one (epoch 2).
Recording orphan_claimed_here() {
  Recording r;
  r.id = "theirs";
  r.kind = SourceKind::stream;
  r.state = State::recording;
  r.lease = LeaseHolder{"here", 2};
  return r;
}

// A service whose LeaseGuard is a real LeaseKeeper over the fake table (lease 15 s).
struct Keeping {
  explicit Keeping(Duration lease = 15s) : keeper{table, h.clock, h.oplog, InstanceInfo{"here", "inc", "", {}, lease}, {}} {
    table.service = &service;
    keeper.bind(service);
    REQUIRE(keeper.start());
  }
  Harness h;
  FakeClusterStore table;
  LeaseKeeper keeper;
  RecordingService service{Ports{h.clock, h.scheduler, h.repository, h.repository, h.chunks, h.finalizer, h.capture,
                                 h.agents, h.storage, h.events, h.oplog, h.ids, &keeper},
                           {}, {}};
};

}  // namespace

TEST_CASE("leases unrenewed for 0.9 of a lease stop media - a tick steps down from what another instance took",
          "[cluster][keeper]") {
  Keeping k;
  REQUIRE(k.service.start_stream(StreamStart{"s1", "", "video/webm", "", {}}));
  REQUIRE(k.service.start_stream(StreamStart{"s2", "", "video/webm", "", {}}));
  k.h.clock.advance(13s);
  REQUIRE(k.service.receive_chunk("s1", 0, bytes_of("a")));
  k.h.clock.advance(1s);  // 14 s > 13.5 s: as after a SIGSTOP
  auto refused = k.service.receive_chunk("s1", 1, bytes_of("b"));
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::unavailable);

  // The renewal finds s1 taken over: it is dropped before the leases count as held again.
  k.table.renewed = std::vector<HeldLease>{{"s2", 1}};
  const LeaseTick t = k.keeper.tick();
  CHECK(t.store_up);
  CHECK(t.lost == 1);
  CHECK(k.keeper.confirmed());
  CHECK(k.service.held_leases() == std::vector<HeldLease>{{"s2", 1}});
  auto lost = k.service.receive_chunk("s1", 1, bytes_of("b"));
  REQUIRE_FALSE(lost);
  CHECK(lost.error().code == Errc::lease_lost);
  CHECK(k.service.receive_chunk("s2", 0, bytes_of("c")));
  CHECK(k.h.chunks.puts == 2);
}

TEST_CASE("after the database comes back an instance renews at once but claims only a lease later",
          "[cluster][keeper]") {
  Keeping k;
  const std::size_t sweeps_at_start = k.table.sweeps;
  k.table.down = true;
  CHECK_FALSE(k.keeper.tick().store_up);
  CHECK_FALSE(k.keeper.leader());
  k.table.down = false;

  const Recording orphan = orphan_claimed_here();
  k.table.expired = {orphan};
  k.h.clock.advance(5s);
  CHECK(k.keeper.tick().store_up);
  CHECK(k.table.sweeps == sweeps_at_start);  // connected again for 0 s: no claim yet
  k.h.clock.advance(5s);
  k.keeper.tick();
  CHECK(k.table.sweeps == sweeps_at_start);  // 5 s
  k.h.clock.advance(10s);
  const LeaseTick t = k.keeper.tick();  // 15 s: a whole lease
  CHECK(k.table.sweeps == sweeps_at_start + 1);
  CHECK(t.claimed == 1);
  CHECK(t.leader);
  auto taken = k.service.get("theirs");
  REQUIRE(taken);
  CHECK(taken->state == State::interrupted);  // resumable for its grace, as after a restart
  CHECK(taken->lease == LeaseHolder{"here", 2});
}

// Commands between instances (ADR 0018): the asking side on the service's fakes.

namespace {

// s1 as another instance recorded it (two chunks), in this instance's store and chunk store.
Recording recorded_elsewhere(Instance& i, const std::string& holder) {
  Harness other;
  auto s = other.service.start_stream(StreamStart{"s1", "", "video/webm", "", {}});
  REQUIRE(s);
  REQUIRE(other.service.receive_chunk("s1", 0, bytes_of("a")));
  REQUIRE(other.service.receive_chunk("s1", 1, bytes_of("b")));
  Recording theirs = other.get("s1");
  theirs.lease = LeaseHolder{holder, 3};
  i.h.repository.rows["s1"] = theirs;
  i.h.chunks.chunks = other.chunks.chunks;
  return theirs;
}

}  // namespace

TEST_CASE("a start for a stream live on an alive instance asks it to hand over - then resumes here", "[cluster]") {
  Instance i;
  Recording theirs = recorded_elsewhere(i, "other");
  i.leases.holder = [&](const Recording& held, CommandKind kind, const std::string& to) -> Result<void> {
    CHECK(held.lease == LeaseHolder{"other", 3});
    CHECK(to == "here");
    // The holder steps down and passes the lease on, as the store's hand_over does.
    Recording handed = held;
    handed.lease = LeaseHolder{to, 4};
    i.h.repository.rows["s1"] = handed;
    return kind == CommandKind::release ? ok() : fail(Errc::internal, "not a release");
  };
  auto resumed = i.service.start_stream(StreamStart{"s1", "", "video/webm", "", {}});
  REQUIRE(resumed);
  CHECK(i.leases.asked == std::vector<std::pair<CommandKind, std::string>>{{CommandKind::release, "s1"}});
  CHECK(resumed->resumed);
  CHECK(resumed->next_index == 2);
  CHECK(resumed->recording.lease == LeaseHolder{"here", 4});
  REQUIRE(i.service.receive_chunk("s1", 2, bytes_of("c")));
  CHECK(i.h.chunks.concatenated("s1") == "abc");
}

TEST_CASE("a start whose holder does not hand over is refused - naming the holder - and nothing is written",
          "[cluster]") {
  Instance i;
  recorded_elsewhere(i, "other");
  const auto saves = i.h.repository.saves;
  auto refused = i.service.start_stream(StreamStart{"s1", "", "video/webm", "", {}});
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::lease_lost);
  CHECK_THAT(refused.error().message, Catch::Contains("live on instance 'other'") &&
                                          Catch::Contains("asked to hand it over") &&
                                          Catch::Contains("did not answer"));
  CHECK(i.h.repository.saves == saves);
  CHECK(i.service.live().empty());
}

TEST_CASE("a stop of a recording another instance holds is run by its holder - nothing written here", "[cluster]") {
  Instance i;
  recorded_elsewhere(i, "other");
  const auto saves = i.h.repository.saves;
  i.leases.holder = [&](const Recording& held, CommandKind kind, const std::string& reason) -> Result<void> {
    CHECK(kind == CommandKind::stop);
    CHECK(reason == "manual");
    Recording stopped = held;
    stopped.state = State::finalizing;  // as the holder saved it
    i.h.repository.rows["s1"] = stopped;
    return ok();
  };
  auto stopped = i.service.stop("s1");
  REQUIRE(stopped);
  CHECK(stopped->state == State::finalizing);
  CHECK(i.h.repository.saves == saves);
  CHECK(i.service.live().empty());
  CHECK(i.h.finalizer.jobs.empty());

  // A holder that does not answer: the stop fails with its reason, nothing changes here.
  i.leases.holder = nullptr;
  i.h.repository.rows["s1"].state = State::recording;
  auto unanswered = i.service.stop("s1");
  REQUIRE_FALSE(unanswered);
  CHECK(unanswered.error().code == Errc::unavailable);
  CHECK(i.h.repository.rows.at("s1").state == State::recording);
}

// The holding side: a real LeaseKeeper answers what the table queued for it.

TEST_CASE("the holder hands a live stream over - steps down first - and stops one when asked", "[cluster][keeper]") {
  Keeping k;
  REQUIRE(k.service.start_stream(StreamStart{"s1", "", "video/webm", "", {}}));
  REQUIRE(k.service.start_stream(StreamStart{"s2", "", "video/webm", "", {}}));
  REQUIRE(k.service.receive_chunk("s1", 0, bytes_of("a")));
  k.table.inbox = {ClusterCommand{7, "there", CommandKind::release, "s1", 1, "there"},
                   ClusterCommand{8, "there", CommandKind::stop, "s2", 1, "manual"},
                   ClusterCommand{9, "there", CommandKind::stop, "gone", 1, "manual"}};
  CHECK(k.keeper.handle_commands() == 3);
  REQUIRE(k.table.answers.size() == 3);
  CHECK(k.table.answers[0] == std::pair<std::uint64_t, Result<void>>{7, ok()});
  CHECK(k.table.handed == std::vector<std::tuple<RecordingId, std::uint64_t, std::string>>{{"s1", 1, "there"}});
  CHECK_FALSE(k.service.held_here("s1"));
  CHECK(k.h.oplog.any_containing("recording s1: this instance stepped down (handed over to instance 'there'"));
  auto late = k.service.receive_chunk("s1", 1, bytes_of("b"));
  REQUIRE_FALSE(late);
  CHECK(k.h.chunks.puts == 1);
  // What this process knew of s1's chunk files is dropped: the new holder appends to them.
  CHECK(std::ranges::count(k.h.chunks.forgotten, "s1") == 1);

  CHECK(k.table.answers[1] == std::pair<std::uint64_t, Result<void>>{8, ok()});
  CHECK(k.h.repository.rows.at("s2").state != State::recording);
  CHECK(k.h.repository.rows.at("s2").stop_reason == StopReason::manual);

  REQUIRE_FALSE(k.table.answers[2].second);
  CHECK(k.table.answers[2].second.error().code == Errc::lease_lost);
}

TEST_CASE("a recording being finalized is not handed over", "[cluster][keeper]") {
  Keeping k;
  REQUIRE(k.service.start_stream(StreamStart{"s1", "", "video/webm", "", {}}));
  REQUIRE(k.service.receive_chunk("s1", 0, bytes_of("a")));
  REQUIRE(k.service.stop("s1"));
  k.table.inbox = {ClusterCommand{1, "there", CommandKind::release, "s1", 1, "there"}};
  k.keeper.handle_commands();
  REQUIRE(k.table.answers.size() == 1);
  REQUIRE_FALSE(k.table.answers[0].second);
  CHECK(k.table.answers[0].second.error().code == Errc::invalid_state);
  CHECK_THAT(k.table.answers[0].second.error().message, Catch::Contains("cannot be handed over now"));
  CHECK(k.table.handed.empty());
  CHECK(k.service.held_here("s1"));
}

TEST_CASE("asking a holder waits for its answer - and gives up after a lease", "[cluster][keeper]") {
  Keeping k(3s);  // waits a third of it
  Recording theirs;
  theirs.id = "s9";
  theirs.lease = LeaseHolder{"there", 5};
  k.table.reply = fail(Errc::invalid_state, "recording s9 is finalizing on instance 'there'");
  k.table.polls_until_answer = 2;
  auto answered = k.keeper.ask_holder(theirs, CommandKind::release, "here");
  REQUIRE_FALSE(answered);
  CHECK(answered.error().message == "recording s9 is finalizing on instance 'there'");
  REQUIRE(k.table.sent.size() == 1);
  CHECK(k.table.sent[0].first == "there");
  CHECK(k.table.sent[0].second.epoch == 5);
  CHECK(k.table.sent[0].second.from == "here");

  k.table.reply.reset();
  const auto asked = std::chrono::steady_clock::now();
  auto silent = k.keeper.ask_holder(theirs, CommandKind::stop, "manual");
  REQUIRE_FALSE(silent);
  CHECK(silent.error().code == Errc::unavailable);
  CHECK_THAT(silent.error().message, Catch::Contains("instance 'there', which did not answer within 1 s"));
  CHECK(std::chrono::steady_clock::now() - asked >= 1s);
  // Silent once: not asked (nor waited for) again within a lease.
  auto again = k.keeper.ask_holder(theirs, CommandKind::stop, "manual");
  REQUIRE_FALSE(again);
  CHECK_THAT(again.error().message, Catch::Contains("did not answer a moment ago"));
  CHECK(k.table.sent.size() == 2);  // the wait only follows a send
}

TEST_CASE("a sweep between ticks claims what expired - not before a whole lease connected", "[cluster][keeper]") {
  Keeping k;
  const Recording orphan = orphan_claimed_here();
  k.table.expired = {orphan};
  const std::size_t sweeps = k.table.sweeps;
  k.h.clock.advance(5s);
  CHECK(k.keeper.sweep() == 0);
  CHECK(k.table.sweeps == sweeps);  // connected for 5 s of 15: not even asked
  k.h.clock.advance(9s);
  REQUIRE(k.keeper.tick().store_up);  // 14 s: renewed (claims nothing yet)
  CHECK(k.table.sweeps == sweeps);
  k.h.clock.advance(2s);  // 16 s
  CHECK(k.keeper.sweep() == 1);
  auto taken = k.service.get("theirs");
  REQUIRE(taken);
  CHECK(taken->state == State::interrupted);
  // Unconfirmed leases (no renewal for 0.9 of a lease): no sweep.
  k.table.expired = {orphan};
  k.h.clock.advance(14s);
  CHECK(k.keeper.sweep() == 0);
  CHECK(k.table.expired.size() == 1);
}

TEST_CASE("a capture on a device another instance records from is refused - the device stays free here", "[cluster]") {
  Instance i;
  i.h.repository.devices_elsewhere.insert("cam");
  auto refused = i.service.start_capture(CaptureStart{"cam", "mp4", std::nullopt, "", ""});
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::device_busy);
  CHECK_THAT(refused.error().message, Catch::Contains("on instance 'other'"));
  CHECK(i.h.capture.starts.empty());
  CHECK(i.service.live().empty());
  CHECK(i.service.flush() == 0);  // nothing held back to write later
  CHECK_FALSE(i.service.live_on("cam"));
  // Once it is free there, it starts here.
  i.h.repository.devices_elsewhere.clear();
  auto started = i.service.start_capture(CaptureStart{"cam", "mp4", std::nullopt, "", ""});
  REQUIRE(started);
  CHECK(i.service.live_on("cam"));
}
