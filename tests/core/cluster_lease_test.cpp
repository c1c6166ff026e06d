// The service among several instances (ADR 0017), on the core's fakes: media is written
// only while the leases are confirmed, a save refused for a lost lease steps the recording
// down, and a recording claimed from another instance is taken up as recovery does.

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
};

// A service whose LeaseGuard is a real LeaseKeeper over the fake table (lease 15 s).
struct Keeping {
  Harness h;
  FakeClusterStore table;
  LeaseKeeper keeper{table, h.clock, h.oplog, InstanceInfo{"here", "inc", "", {}, 15s}, {}};
  RecordingService service{Ports{h.clock, h.scheduler, h.repository, h.repository, h.chunks, h.finalizer, h.capture,
                                 h.agents, h.storage, h.events, h.oplog, h.ids, &keeper},
                           {}, {}};
  Keeping() {
    table.service = &service;
    keeper.bind(service);
    REQUIRE(keeper.start());
  }
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

  Recording orphan;
  orphan.id = "theirs";
  orphan.kind = SourceKind::stream;
  orphan.state = State::recording;
  orphan.lease = LeaseHolder{"here", 2};
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
