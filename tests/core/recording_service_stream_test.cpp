// Seed 001's manual scenarios 1-4 and seed 002's limits, at core level.

#include <catch2/catch.hpp>

#include "recorder/testing/fakes.hpp"

using namespace recorder::core;
using namespace recorder::testing;
using namespace std::chrono_literals;

namespace {

std::string chunk_text(ChunkIndex i) { return "<chunk " + std::to_string(i) + ">"; }

void send_chunks(Harness& h, const RecordingId& id, ChunkIndex from, ChunkIndex to) {
  for (ChunkIndex i = from; i < to; ++i) {
    h.run_for(1s);
    auto ack = h.service.receive_chunk(id, i, bytes_of(chunk_text(i)));
    REQUIRE(ack);
    CHECK(ack->index == i);
    CHECK_FALSE(ack->duplicate);
  }
}

std::string expected_bytes(ChunkIndex from, ChunkIndex to) {
  std::string out;
  for (ChunkIndex i = from; i < to; ++i) out += chunk_text(i);
  return out;
}

RecordingId start(Harness& h, const std::string& id = "abc", StreamLimits limits = {}) {
  auto started = h.service.start_stream(StreamStart{id, "", "video/webm", "", limits});
  REQUIRE(started);
  CHECK_FALSE(started->resumed);
  CHECK(started->recording.state == State::recording);
  return started->recording.id;
}

}  // namespace

TEST_CASE("seed 001 scenario 1: a normal recording is merged and ready", "[stream][seed001]") {
  Harness h;
  const RecordingId id = start(h);
  send_chunks(h, id, 0, 30);
  auto stopped = h.service.stop(id);
  REQUIRE(stopped);
  CHECK(stopped->state == State::finalizing);
  CHECK(stopped->stop_reason == StopReason::manual);
  CHECK(*stopped->duration_seconds == Approx(30));
  REQUIRE(h.finalizer.pending(id, false) == 1);

  h.finalize_ok(id);
  const Recording r = h.get(id);
  CHECK(r.state == State::ready);
  CHECK(r.outcome == Outcome::completed);
  CHECK(r.ledger.chunk_count() == 30);
  CHECK(r.files.size() == 1);
  CHECK(h.chunks.concatenated(id) == expected_bytes(0, 30));
  CHECK(h.events.for_recording(id) ==
        std::vector<Notice>{Notice::started, Notice::stopped, Notice::ready});
  CHECK(h.repository.rows.at(id).state == State::ready);
  auto log = h.repository.events(id);
  REQUIRE(log);
  REQUIRE(log->size() == 4);  // created, started, stopped, ready
  CHECK((*log)[3].transition.to == State::ready);
}

TEST_CASE("seed 001 scenario 2: a closed browser is finalized after the 5 s grace", "[stream][seed001]") {
  Harness h;
  const RecordingId id = start(h);
  send_chunks(h, id, 0, 10);
  h.service.stream_disconnected(id);
  CHECK(h.get(id).state == State::interrupted);

  h.run_for(4999ms);
  CHECK(h.get(id).state == State::interrupted);
  h.run_for(1ms);
  Recording r = h.get(id);
  CHECK(r.state == State::finalizing);
  CHECK(r.stop_reason == StopReason::disconnect);
  CHECK(*r.duration_seconds == Approx(10));

  h.finalize_ok(id);
  r = h.get(id);
  CHECK(r.state == State::ready);
  CHECK(r.outcome == Outcome::stopped_premature);
  CHECK(h.chunks.concatenated(id) == expected_bytes(0, 10));
}

TEST_CASE("seed 001 scenario 3: a client that reconnects within grace continues the same recording",
          "[stream][seed001]") {
  Harness h;
  const RecordingId id = start(h);
  send_chunks(h, id, 0, 10);
  h.service.stream_disconnected(id);
  h.run_for(3s);

  auto resumed = h.service.start_stream(StreamStart{id, "", "video/webm", "", {}});
  REQUIRE(resumed);
  CHECK(resumed->resumed);
  CHECK(resumed->next_index == 10);
  CHECK(resumed->missing.empty());
  CHECK_FALSE(h.scheduler.armed(id, DeadlineKind::grace));

  h.run_for(10s);  // long past the old grace: nothing happens
  CHECK(h.get(id).state == State::recording);
  send_chunks(h, id, 10, 20);
  REQUIRE(h.service.stop(id));
  h.finalize_ok(id);
  CHECK(h.get(id).state == State::ready);
  CHECK(h.chunks.concatenated(id) == expected_bytes(0, 20));
}

TEST_CASE("seed 001 scenario 4: missing chunks fail the recording with the exact list - keeping the rest",
          "[stream][seed001]") {
  Harness h;
  const RecordingId id = start(h);
  for (ChunkIndex i = 0; i < 30; ++i) {
    if (i == 5 || i == 12) continue;
    REQUIRE(h.service.receive_chunk(id, i, bytes_of(chunk_text(i))));
  }
  auto stopped = h.service.stop(id);
  REQUIRE(stopped);
  CHECK(stopped->missing_chunks == std::vector<ChunkIndex>{5, 12});
  CHECK(stopped->ledger.next_index() == 30);  // totalExpected

  h.finalize_ok(id);
  const Recording r = h.get(id);
  CHECK(r.state == State::failed);
  CHECK(r.outcome == Outcome::failed);
  CHECK(r.error == "missing chunks 5, 12 of 30 expected");
  CHECK_FALSE(r.files.empty());  // the partial file stays available
  CHECK(h.chunks.chunks.size() == 28);
  CHECK(h.alerts.any_containing("incomplete"));
}

TEST_CASE("a resumed client learns the gaps and fills them by index", "[stream]") {
  Harness h;
  const RecordingId id = start(h);
  for (ChunkIndex i : {0u, 1u, 3u, 4u}) REQUIRE(h.service.receive_chunk(id, i, bytes_of(chunk_text(i))));
  h.service.stream_disconnected(id);
  auto resumed = h.service.start_stream(StreamStart{id, "", "", "", {}});
  REQUIRE(resumed);
  CHECK(resumed->next_index == 5);
  CHECK(resumed->missing == std::vector<ChunkIndex>{2});
  REQUIRE(h.service.receive_chunk(id, 2, bytes_of(chunk_text(2))));
  REQUIRE(h.service.stop(id));
  h.finalize_ok(id);
  CHECK(h.get(id).state == State::ready);
  CHECK(h.chunks.concatenated(id) == expected_bytes(0, 5));
}

TEST_CASE("a duplicate chunk is acknowledged again and not written twice", "[stream]") {
  Harness h;
  const RecordingId id = start(h);
  REQUIRE(h.service.receive_chunk(id, 0, bytes_of("a")));
  auto again = h.service.receive_chunk(id, 0, bytes_of("a"));
  REQUIRE(again);
  CHECK(again->duplicate);
  CHECK(h.chunks.puts == 1);
}

TEST_CASE("chunks without an index get the next one", "[stream]") {
  Harness h;
  const RecordingId id = start(h);
  CHECK(h.service.receive_chunk(id, std::nullopt, bytes_of("a"))->index == 0);
  CHECK(h.service.receive_chunk(id, std::nullopt, bytes_of("b"))->index == 1);
  CHECK(h.chunks.concatenated(id) == "ab");
}

TEST_CASE("a chunk the store cannot write is not acknowledged - and the recording goes on", "[stream]") {
  Harness h;
  const RecordingId id = start(h);
  REQUIRE(h.service.receive_chunk(id, 0, bytes_of("a")));
  h.chunks.fail_with = Errc::storage_full;
  auto refused = h.service.receive_chunk(id, 1, bytes_of("b"));
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::storage_full);
  CHECK(h.get(id).ledger.chunk_count() == 1);
  h.chunks.fail_with.reset();
  REQUIRE(h.service.receive_chunk(id, 1, bytes_of("b")));
  CHECK(h.chunks.concatenated(id) == "ab");
}

TEST_CASE("seed 002 limits: a breach is a clear error and what was received is kept", "[stream][seed002]") {
  Harness h;
  const StreamLimits limits{3600s, 1024 * 1024, 3 * 1024 * 1024, 100000};
  const RecordingId id = start(h, "sess", limits);
  const std::vector<std::byte> mib(1024 * 1024, std::byte{1});

  SECTION("a chunk over 1 MiB is refused, the recording goes on") {
    std::vector<std::byte> big(1024 * 1024 + 1, std::byte{1});
    auto r = h.service.receive_chunk(id, std::nullopt, big);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::chunk_too_large);
    CHECK(h.get(id).state == State::recording);
    CHECK(h.service.receive_chunk(id, std::nullopt, mib));
  }
  SECTION("passing the total stops the recording and finalizes what it holds") {
    for (int i = 0; i < 3; ++i) REQUIRE(h.service.receive_chunk(id, std::nullopt, mib));
    auto r = h.service.receive_chunk(id, std::nullopt, bytes_of("x"));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::total_size_exceeded);
    const Recording rec = h.get(id);
    CHECK(rec.state == State::finalizing);
    CHECK(rec.stop_reason == StopReason::size_limit);
    CHECK(rec.ledger.total_bytes() == 3 * 1024 * 1024);
    CHECK(h.service.receive_chunk(id, std::nullopt, bytes_of("x")).error().code == Errc::total_size_exceeded);
  }
  SECTION("at one hour the recording is stopped and finalized; a later chunk is told why") {
    REQUIRE(h.service.receive_chunk(id, std::nullopt, mib));
    h.run_for(3600s);
    const Recording rec = h.get(id);
    CHECK(rec.state == State::finalizing);
    CHECK(rec.stop_reason == StopReason::automatic_limit);
    CHECK(*rec.duration_seconds == Approx(3600));
    auto r = h.service.receive_chunk(id, std::nullopt, bytes_of("x"));
    CHECK(r.error().code == Errc::duration_exceeded);
    h.finalize_ok(id);
    CHECK(h.get(id).outcome == Outcome::completed);
  }
}

TEST_CASE("a chunk for a recording that was never started is told to start first", "[stream][seed002]") {
  Harness h;
  auto r = h.service.receive_chunk("nobody", std::nullopt, bytes_of("x"));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::not_started);
  CHECK(r.error().message.find("Send 'start' first") != std::string::npos);
}

TEST_CASE("a finished recording cannot be restarted under its id", "[stream]") {
  Harness h;
  const RecordingId id = start(h);
  REQUIRE(h.service.stop(id));
  h.finalize_ok(id);
  auto again = h.service.start_stream(StreamStart{id, "", "", "", {}});
  REQUIRE_FALSE(again);
  CHECK(again.error().code == Errc::id_taken);
  CHECK(again.error().message.find("already ended") != std::string::npos);
}

TEST_CASE("stop is idempotent and finalize runs once", "[stream]") {
  Harness h;
  const RecordingId id = start(h);
  REQUIRE(h.service.stop(id));
  REQUIRE(h.service.stop(id));
  CHECK(h.finalizer.jobs.size() == 1);
  h.finalize_ok(id);
  auto third = h.service.stop(id);
  REQUIRE(third);
  CHECK(third->state == State::ready);
  CHECK(h.finalizer.jobs.empty());
}

TEST_CASE("a failed finalize keeps every chunk and alerts", "[stream]") {
  Harness h;
  const RecordingId id = start(h);
  send_chunks(h, id, 0, 3);
  REQUIRE(h.service.stop(id));
  REQUIRE(h.finalizer.complete(id, fail(Errc::io_error, "disk error")));
  const Recording r = h.get(id);
  CHECK(r.state == State::failed);
  CHECK(r.error == "finalize failed: disk error");
  CHECK(h.chunks.chunks.size() == 3);
  CHECK(h.alerts.count(Severity::critical) == 1);
}

TEST_CASE("conversion runs after the original is final - its failure keeps the original", "[stream]") {
  Harness h;
  const RecordingId id = start(h);
  send_chunks(h, id, 0, 3);
  REQUIRE(h.service.stop(id));
  h.finalize_ok(id, true);
  CHECK(h.get(id).state == State::processing);
  REQUIRE(h.finalizer.pending(id, true) == 1);

  SECTION("success adds the converted file") {
    FinalizeResult converted{{MediaFile{id + "/audio.wav", FileRole::converted, 10, 3.0}}, 3.0, false};
    REQUIRE(h.finalizer.complete(id, converted));
    const Recording r = h.get(id);
    CHECK(r.state == State::ready);
    CHECK(r.files.size() == 2);
    CHECK(*r.duration_seconds == Approx(3.0));
  }
  SECTION("input that is not media fails the conversion, not the bytes") {
    REQUIRE(h.finalizer.complete(id, fail(Errc::invalid_argument, "not a media file")));
    const Recording r = h.get(id);
    CHECK(r.state == State::failed);
    CHECK(r.error.find("not a media file") != std::string::npos);
    CHECK(r.files.size() == 1);
    CHECK(h.chunks.chunks.size() == 3);
  }
}

TEST_CASE("a database outage does not stop ingest - the rows catch up", "[stream]") {
  Harness h;
  h.repository.down = true;
  const RecordingId id = start(h);
  send_chunks(h, id, 0, 3);
  CHECK(h.repository.rows.empty());
  // Logged at once, once, not per change; announced only once the store holds it.
  CHECK(h.oplog.count(Severity::critical) == 1);
  CHECK(h.alerts.alerts.empty());
  CHECK(h.events.notices.empty());

  h.repository.down = false;
  REQUIRE(h.service.stop(id));
  CHECK(h.repository.rows.at(id).state == State::finalizing);
  auto log = h.repository.events(id);
  REQUIRE(log);
  CHECK(log->size() == 3);  // created, started, stopped: none lost
  // The notices held back are in the outbox now, in order, and announced after the commit.
  CHECK(h.repository.count_notices("alert.critical") == 1);
  CHECK(h.repository.count_notices("recording.started") == 1);
  CHECK(h.repository.count_notices("recording.stopped") == 1);
  CHECK(h.alerts.count(Severity::critical) == 1);
  CHECK(h.events.for_recording(id) == std::vector<Notice>{Notice::started, Notice::stopped});
}

TEST_CASE("a client's id is not reused for a new recording while the store cannot say it is free", "[stream]") {
  Harness h;
  const RecordingId id = start(h);
  send_chunks(h, id, 0, 2);
  REQUIRE(h.service.stop(id));
  h.finalize_ok(id);
  h.repository.down = true;
  auto again = h.service.start_stream(StreamStart{id, "", "", "", {}});
  REQUIRE_FALSE(again);
  CHECK(again.error().code == Errc::unavailable);
  CHECK(again.error().message.find("cannot tell whether recording id") != std::string::npos);
  // An id that has no media at all may start while the database is away.
  REQUIRE(h.service.start_stream(StreamStart{"fresh", "", "", "", {}}));
}

TEST_CASE("deleting needs a finished recording and removes its media", "[stream]") {
  Harness h;
  const RecordingId id = start(h);
  send_chunks(h, id, 0, 2);
  CHECK(h.service.remove(id).error().code == Errc::invalid_state);
  REQUIRE(h.service.stop(id));
  h.finalize_ok(id);
  auto removed = h.service.remove(id);
  REQUIRE(removed);
  CHECK(removed->state == State::deleted);
  CHECK(h.chunks.chunks.empty());
  CHECK(h.finalizer.removed == std::vector<RecordingId>{id});
}

TEST_CASE("a client's recording id is 1 to 200 bytes without control characters - else nothing is stored",
          "[stream][abuse]") {
  Harness h;
  const auto refused = [&](const std::string& id, const std::string& words) {
    INFO(id.size() << " bytes");
    auto started = h.service.start_stream(StreamStart{id, "", "video/webm", "", {}});
    REQUIRE_FALSE(started);
    CHECK(started.error().code == Errc::invalid_argument);
    CHECK_THAT(started.error().message, Catch::Contains(words));
  };
  refused(std::string(201, 'a'), "at most 200 bytes; this one has 201");
  refused(std::string(1 << 20, 'a'), "this one has 1048576");
  refused(std::string("rec\n1"), "byte 3 is 0x0a");
  refused(std::string("rec\0x", 5), "byte 3 is 0x00");
  const auto session = h.service.start_stream(StreamStart{std::string(201, 's'), "", "audio/webm", "", {},
                                                          StreamIds::session});
  CHECK_FALSE(session);
  CHECK(h.repository.rows.empty());
  CHECK(h.service.start_stream(StreamStart{std::string(200, 'a'), "", "video/webm", "", {}}));
  CHECK(h.service.start_stream(StreamStart{"ünïcode-id ✓", "", "video/webm", "", {}}));
}

TEST_CASE("every committed change raises the revision - saved rows and notices carry it", "[stream][revision]") {
  Harness h;
  const RecordingId id = start(h);
  const std::uint64_t started = h.get(id).revision;
  CHECK(started >= 1);
  send_chunks(h, id, 0, 3);
  CHECK(h.get(id).revision == started + 3);  // one per chunk
  // A repeated chunk changes nothing and keeps the revision.
  REQUIRE(h.service.receive_chunk(id, 1, bytes_of(chunk_text(1)))->duplicate);
  CHECK(h.get(id).revision == started + 3);
  REQUIRE(h.service.stop(id));
  h.finalize_ok(id);
  const Recording ready = h.get(id);
  CHECK(ready.revision > started + 3);
  CHECK(h.repository.rows.at(id).revision == ready.revision);
  // Each notice's copy is the recording as that change left it: later notices are newer.
  std::uint64_t previous = 0;
  std::size_t notices = 0;
  for (const OutboxEntry& e : h.repository.outbox) {
    const auto* n = std::get_if<RecordingNotice>(&e.body);
    if (!n || n->recording.id != id) continue;
    CHECK(n->recording.revision > previous);
    previous = n->recording.revision;
    ++notices;
  }
  CHECK(notices == 3);  // started, stopped, ready
  CHECK(previous == ready.revision);
}
