// Ingest goes on while Postgres is down, and the rows catch up when it is back: the real
// service on a real Postgres (the ctest fixture's server, stopped and started here) and
// the real chunk files.

#include <catch2/catch.hpp>

#include <fstream>
#include <thread>

#include "recorder/adapters/fs/fs_chunk_store.hpp"
#include "recorder/adapters/postgres/postgres_repository.hpp"
#include "recorder/adapters/system/system_clock.hpp"
#include "recorder/testing/chunk_content.hpp"
#include "recorder/testing/fakes.hpp"
#include "recorder/testing/temp_dir.hpp"
#include "recorder/testing/test_postgres.hpp"

using namespace recorder;
using namespace std::chrono_literals;

TEST_CASE("a stream keeps recording through a Postgres outage and its rows catch up", "[integration][postgres]") {
  const std::string url = testing::test_postgres_url();

  testing::TempDir dir;
  adapters::postgres::PostgresRepository repo(url, adapters::postgres::Reconnect{50ms, 500ms});
  REQUIRE(repo.connect());
  adapters::fs::FsChunkStore chunks(dir.path() / "chunks");
  adapters::system::SystemClock clock;
  testing::FakeScheduler scheduler;
  testing::FakeFinalizer finalizer;
  testing::FakeCaptureDriver capture;
  testing::FakeAgentChannel agents;
  testing::FakeStorageProbe probe;
  testing::FakeEventPublisher events;
  testing::FakeOperatorLog oplog;
  testing::SequentialIds ids;
  core::RecordingService service(
      core::Ports{clock, scheduler, repo, repo, chunks, finalizer, capture, agents, probe, events, oplog, ids}, {}, {});

  const std::string id = "outage-" + std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
  REQUIRE(service.start_stream(core::StreamStart{id, "", "video/webm", "", {}}));
  for (core::ChunkIndex i = 0; i < 5; ++i) REQUIRE(service.receive_chunk(id, i, testing::chunk_content(id, i, 4096)));

  testing::test_postgres("stop");
  for (core::ChunkIndex i = 5; i < 10; ++i) {
    auto ack = service.receive_chunk(id, i, testing::chunk_content(id, i, 4096));
    INFO((ack ? "" : ack.error().message));
    REQUIRE(ack);  // the bytes do not need the database
  }
  REQUIRE(service.stop(id));  // the transition cannot be saved now
  CHECK(oplog.count(core::Severity::critical) == 1);  // said at once, once
  CHECK(service.flush() == 1);
  testing::test_postgres("start");

  const auto deadline = std::chrono::steady_clock::now() + 30s;
  std::size_t unsaved = 1;
  while (unsaved > 0 && std::chrono::steady_clock::now() < deadline) {
    unsaved = service.flush();
    if (unsaved > 0) std::this_thread::sleep_for(50ms);
  }
  REQUIRE(unsaved == 0);

  adapters::postgres::PostgresRepository fresh(url);
  auto row = fresh.find(id);
  REQUIRE(row);
  REQUIRE(row->has_value());
  CHECK((*row)->state == core::State::finalizing);
  CHECK((*row)->ledger.chunk_count() == 10);
  auto log = fresh.events(id);
  REQUIRE(log);
  REQUIRE(log->size() == 3);  // created, started, stopped: nothing lost in the outage
  CHECK(log->back().transition.to == core::State::finalizing);
  CHECK(chunks.scan(id)->chunk_count() == 10);
  // The notices of the outage were held back, not lost: in the outbox now, in order.
  CHECK(events.alerts.count(core::Severity::critical) == 1);
  std::vector<std::string> announced;
  for (const auto& n : events.notices) {
    if (n.recording.id == id) announced.emplace_back(core::to_string(n.notice));
  }
  CHECK(announced == std::vector<std::string>{"recording.started", "recording.stopped"});
}
