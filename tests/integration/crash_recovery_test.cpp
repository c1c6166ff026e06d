// The whole persistence path, for real: a process running the RecordingService on the
// daemon's stores streams chunks into several recordings and is SIGKILLed at many points;
// each new run recovers and resumes the streams where their durable chunks end. Finally
// recorderd itself starts on the same data directory, recovers the recordings, finalizes
// them after their grace, and each original file must be exactly the chunks sent, with
// every acknowledged chunk in it.

#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>

#include <fstream>
#include <iterator>
#include <random>

#include "recorder/adapters/sqlite/sqlite_repository.hpp"
#include "recorder/testing/chunk_content.hpp"
#include "recorder/testing/process.hpp"
#include "recorder/testing/temp_dir.hpp"

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
  for (int round = 0; round < 12; ++round) {
    INFO("round " << round);
    // Killed after a number of acknowledged chunks and a little more: mid-write, whatever the load.
    auto run = testing::run_and_kill_after_acks({STREAM_WRITER, dir.path().string(), std::to_string(recordings)},
                                                acks(rng), std::chrono::microseconds(micros(rng)));
    REQUIRE(WIFSIGNALED(run.status));
    REQUIRE(WTERMSIG(run.status) == SIGKILL);
    if (!run.acked.empty()) ++rounds_with_acks;
    acked.insert(run.acked.begin(), run.acked.end());
  }
  CHECK(rounds_with_acks == 12);

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
