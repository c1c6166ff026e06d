// The outbox: notices are saved with the change that caused them, and the dispatcher hands
// them to every durable subscriber in order, at least once, across restarts.

#include <catch2/catch.hpp>

#include "recorder/testing/fakes.hpp"

using namespace recorder::core;
using namespace recorder::testing;
using namespace std::chrono_literals;

namespace {

std::vector<std::string> types_of(const std::vector<OutboxEntry>& entries) {
  std::vector<std::string> out;
  for (const auto& e : entries) out.push_back(notice_type(e.body));
  return out;
}

RecordingId finished_stream(Harness& h, const RecordingId& id) {
  REQUIRE(h.service.start_stream(StreamStart{id, "", "video/webm", "", {}}));
  REQUIRE(h.service.receive_chunk(id, 0, bytes_of("x")));
  REQUIRE(h.service.stop(id));
  h.finalize_ok(id);
  return id;
}

}  // namespace

TEST_CASE("every notice is saved in the transaction of its change - with its id", "[outbox]") {
  Harness h;
  std::vector<std::size_t> outbox_at_save;
  h.repository.before_save = [&](const Recording&) { outbox_at_save.push_back(h.repository.outbox.size()); };
  finished_stream(h, "abc");
  // started, stopped, ready: each announced notice is one the outbox holds, same id.
  REQUIRE(h.events.notices.size() == 3);
  REQUIRE(h.repository.outbox.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(notice_id(h.repository.outbox[i].body) == h.events.notices[i].id);
    CHECK_FALSE(h.events.notices[i].id.empty());
  }
  CHECK(types_of(h.repository.outbox) ==
        std::vector<std::string>{"recording.started", "recording.stopped", "recording.ready"});
  // Nothing was written to the outbox outside a save of the recording.
  CHECK(outbox_at_save == std::vector<std::size_t>{0, 0, 1, 2});
}

TEST_CASE("the dispatcher hands each subscriber every notice in order and marks it per subscriber", "[outbox]") {
  Harness h;
  OutboxDispatcher dispatcher(h.repository, h.oplog, h.clock, 2);
  FakeSubscriber log("log");
  FakeSubscriber hooks("webhooks");
  REQUIRE(dispatcher.add(log));
  REQUIRE(dispatcher.add(hooks));
  finished_stream(h, "abc");

  hooks.failing = true;
  auto pass = dispatcher.run_once();
  CHECK(pass.more);  // a full batch, and a failing subscriber
  CHECK(log.received.size() == 2);
  CHECK(hooks.received.empty());
  CHECK(h.oplog.any_containing("subscriber webhooks"));

  dispatcher.run_once();
  CHECK(types_of(log.received) ==
        std::vector<std::string>{"recording.started", "recording.stopped", "recording.ready"});
  CHECK(dispatcher.run_once().delivered == 0);  // nothing twice

  hooks.failing = false;
  while (dispatcher.run_once().more) {
  }
  CHECK(types_of(hooks.received) == types_of(log.received));
  CHECK(h.repository.delivered.size() == 6);
}

TEST_CASE("a slow subscriber's progress is marked as it goes - not only at the end of a batch", "[outbox]") {
  Harness h;
  OutboxDispatcher dispatcher(h.repository, h.oplog, h.clock, 256, 100ms);
  FakeSubscriber slow("slow");
  REQUIRE(dispatcher.add(slow));
  finished_stream(h, "a");
  finished_stream(h, "b");  // six notices, seq 1..6
  std::vector<std::size_t> marked_before;
  slow.on_deliver = [&](const OutboxEntry&) {
    marked_before.push_back(h.repository.delivered.size());
    h.clock.advance(60ms);  // each notice takes 60 ms to hand over
  };
  const auto pass = dispatcher.run_once();
  CHECK(pass.delivered == 6);
  CHECK_FALSE(pass.more);
  // Marked after the 2nd (120 ms), the 4th and the 6th: a crash at any point repeats at
  // most two deliveries, not the batch.
  CHECK(marked_before == std::vector<std::size_t>{0, 0, 2, 2, 4, 4});
  CHECK(h.repository.delivered.size() == 6);
}

TEST_CASE("a subscriber added later is handed what is saved from then on - not the history", "[outbox]") {
  Harness h;
  OutboxDispatcher dispatcher(h.repository, h.oplog, h.clock);
  finished_stream(h, "old");
  FakeSubscriber late("late");
  REQUIRE(dispatcher.add(late));
  finished_stream(h, "new");
  dispatcher.run_once();
  REQUIRE(late.received.size() == 3);
  for (const auto& e : late.received) CHECK(std::get<RecordingNotice>(e.body).recording.id == "new");
}

TEST_CASE("notices not yet delivered before a crash are delivered after the restart - none twice once marked",
          "[outbox][recovery]") {
  Harness before;
  {
    OutboxDispatcher dispatcher(before.repository, before.oplog, before.clock);
    FakeSubscriber log("log");
    REQUIRE(dispatcher.add(log));
    finished_stream(before, "one");
    dispatcher.run_once();
    CHECK(log.received.size() == 3);
    finished_stream(before, "two");  // saved, then the process dies before dispatching
  }
  auto after = before.restarted(1s);
  OutboxDispatcher dispatcher(after->repository, after->oplog, after->clock);
  FakeSubscriber log("log");
  REQUIRE(dispatcher.add(log));  // known: keeps what it has not been handed
  dispatcher.run_once();
  REQUIRE(log.received.size() == 3);
  for (const auto& e : log.received) CHECK(std::get<RecordingNotice>(e.body).recording.id == "two");
}

TEST_CASE("a store that cannot be read or marked leaves the notices to the next pass", "[outbox]") {
  Harness h;
  OutboxDispatcher dispatcher(h.repository, h.oplog, h.clock);
  FakeSubscriber log("log");
  REQUIRE(dispatcher.add(log));
  finished_stream(h, "abc");
  h.repository.down = true;
  auto pass = dispatcher.run_once();
  CHECK(pass.delivered == 0);
  CHECK(pass.more);
  CHECK(h.oplog.any_containing("cannot read the outbox"));
  h.repository.down = false;
  CHECK(dispatcher.run_once().delivered == 3);
  CHECK(h.oplog.any_containing("takes notices again"));
}

TEST_CASE("storage levels and their alerts go to the outbox - and wait there while the store is down",
          "[outbox][storage]") {
  Harness h;
  h.storage.set_used_percent(85);
  h.repository.down = true;
  REQUIRE(h.service.check_storage());
  CHECK(h.events.storage.empty());  // not announced: the store does not hold it
  CHECK(h.oplog.count(Severity::warning) == 1);
  CHECK(h.service.flush() == 2);
  h.repository.down = false;
  CHECK(h.service.flush() == 0);
  CHECK(h.repository.count_notices("storage.warning") == 1);
  CHECK(h.repository.count_notices("alert.warning") == 1);
  REQUIRE(h.events.storage.size() == 1);
  CHECK(h.events.storage[0].level == StorageLevel::warn);
}
