// The whole persistence path, for real: a process running the RecordingService on the
// daemon's stores streams chunks into several recordings and is SIGKILLed at many points;
// each new run recovers and resumes the streams where their durable chunks end. Finally
// recorderd itself starts on the same data directory, recovers the recordings, finalizes
// them after their grace, and each original file must be exactly the chunks sent, with
// every acknowledged chunk in it.
//
// The same runs deliver the outbox to a slow durable subscriber that appends each notice id
// to a synced file (every third run has no dispatcher, so notices are left waiting). At
// every kill, each notice marked delivered is in the file; after a last run that only
// recovers and delivers, the file holds exactly the outbox's notices: none lost, none
// invented.

#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>

#include <fstream>
#include <iterator>
#include <random>
#include <set>
#include <string>

#include "recorder/adapters/sqlite/sqlite_repository.hpp"
#include "recorder/testing/chunk_content.hpp"
#include "recorder/testing/process.hpp"
#include "recorder/testing/temp_dir.hpp"
#include "sqlite_peek.hpp"

using namespace recorder;
using namespace std::chrono_literals;

TEST_CASE("streams killed at many points are recovered - resumed and finalized with every acknowledged chunk",
          "[integration][crash]") {
  testing::TempDir dir;
  const int recordings = 3;
  std::set<std::pair<std::string, std::uint64_t>> acked;
  std::mt19937 rng(4242);
  std::uniform_int_distribution<std::size_t> acks(1, 40);
  std::uniform_int_distribution<int> micros(0, 3000);
  int rounds_with_acks = 0;
  const auto db = dir.path() / "recorderd.db";
  const auto notices = dir.path() / "notices.txt";
  const auto noted = [&] {
    std::ifstream in(notices);
    std::set<std::string> ids;
    for (std::string line; std::getline(in, line);) ids.insert(line);
    return ids;
  };
  std::size_t waiting_after_silent_rounds = 0;
  for (int round = 0; round < 12; ++round) {
    INFO("round " << round);
    // Every third run has no dispatcher, like a process that dies before delivering
    // anything: what it saved must wait for the subscriber, whatever the timing.
    const bool silent = round % 3 == 2;
    std::vector<std::string> argv{STREAM_WRITER, dir.path().string(), std::to_string(recordings)};
    if (!silent) argv.push_back(notices.string());
    // Killed after a number of acknowledged chunks and a little more: mid-write, whatever the load.
    auto run = testing::run_and_kill_after_acks(argv, acks(rng), std::chrono::microseconds(micros(rng)));
    REQUIRE(WIFSIGNALED(run.status));
    REQUIRE(WTERMSIG(run.status) == SIGKILL);
    if (!run.acked.empty()) ++rounds_with_acks;
    acked.insert(run.acked.begin(), run.acked.end());
    // Marked delivered only once the subscriber had it.
    const auto in_file = noted();
    for (const auto& id : testing::sql_strings(db, testing::delivered_to("file"))) CHECK(in_file.contains(id));
    if (silent) waiting_after_silent_rounds += testing::sql_strings(db, testing::undelivered_to("file")).size();
  }
  CHECK(rounds_with_acks == 12);
  // Each silent run recovered and resumed the streams: its notices were saved, not handed over.
  CHECK(waiting_after_silent_rounds >= 4 * recordings);

  // A run after the last kill delivers what was waiting, and the file is then the outbox.
  const auto drain_log = dir.path() / "drain.log";
  const pid_t drain = testing::spawn({STREAM_WRITER, dir.path().string(), "0", notices.string()}, drain_log);
  const auto drained = testing::wait_exit(drain, 30s);
  REQUIRE(drained);
  CHECK(WIFEXITED(*drained));
  CHECK(WEXITSTATUS(*drained) == 0);
  CHECK(testing::count_in_file(drain_log, "drained") == 1);
  const auto saved = testing::sql_strings(db, "SELECT id FROM outbox");
  CHECK(saved.size() >= 12 * recordings);  // each run saves at least a resume per stream
  CHECK(noted() == saved);
  CHECK(testing::sql_strings(db, testing::undelivered_to("file")).empty());

  const auto log = dir.path() / "recorderd.log";
  const pid_t daemon = testing::spawn({RECORDERD, "--data-dir", dir.path().string(), "--listen", "127.0.0.1:0", "--set",
                                       "limits.grace_seconds=1"},
                                      log);
  const bool finalized = testing::wait_for_text(log, "msg=\"recording.ready\"", recordings, 30s);
  ::kill(daemon, SIGTERM);
  const auto status = testing::wait_exit(daemon, 20s);
  std::ifstream in(log);
  const std::string log_text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  INFO(log_text);
  REQUIRE(finalized);
  REQUIRE(status);
  CHECK(WIFEXITED(*status));
  CHECK(WEXITSTATUS(*status) == 0);
  CHECK(log_text.find("recovered=" + std::to_string(recordings)) != std::string::npos);

  auto repo = adapters::sqlite::SqliteRepository::open(dir.path() / "recorderd.db");
  REQUIRE(repo);
  for (int k = 0; k < recordings; ++k) {
    const std::string id = "s" + std::to_string(k);
    INFO(id);
    auto found = (*repo)->find(id);
    REQUIRE(found);
    REQUIRE(found->has_value());
    const core::Recording& r = **found;
    CHECK(r.state == core::State::ready);
    CHECK(r.stop_reason == core::StopReason::disconnect);
    CHECK(r.missing_chunks.empty());
    REQUIRE(r.files.size() == 1);
    const std::uint64_t n = r.ledger.chunk_count();
    for (const auto& [acked_id, index] : acked) {
      if (acked_id == id) CHECK(index < n);
    }
    std::vector<std::byte> expected;
    for (std::uint64_t i = 0; i < n; ++i) {
      auto c = testing::chunk_content(id, i, testing::chunk_size_for(i));
      expected.insert(expected.end(), c.begin(), c.end());
    }
    std::ifstream file(dir.path() / r.files[0].path, std::ios::binary);
    std::vector<char> raw((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    CHECK(raw.size() == expected.size());
    CHECK(std::equal(raw.begin(), raw.end(), expected.begin(), expected.end(),
                     [](char a, std::byte b) { return static_cast<std::byte>(a) == b; }));
    CHECK(r.files[0].bytes == expected.size());
  }
}
