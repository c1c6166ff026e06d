// A writer process is SIGKILLed at many different points while it stores chunks for
// several recordings. After each kill a fresh store must serve every acknowledged chunk
// intact, and nothing it serves may differ from what was sent.

#include <catch2/catch.hpp>

#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <set>
#include <sstream>

#include "chunk_content.hpp"
#include "read_file.hpp"
#include "recorder/adapters/fs/fs_chunk_store.hpp"
#include "temp_dir.hpp"

extern char** environ;

using namespace recorder;

namespace {

struct Round {
  std::set<std::pair<std::string, core::ChunkIndex>> acked;
  int status = 0;
};

// Runs the writer, lets it work for `run_for`, SIGKILLs it and collects every ack it
// printed before it died.
Round run_and_kill(const std::filesystem::path& dir, int recordings, std::chrono::microseconds run_for) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  const std::string dir_arg = dir.string();
  const std::string n_arg = std::to_string(recordings);
  std::vector<char*> argv{const_cast<char*>(CHUNK_WRITER), const_cast<char*>(dir_arg.c_str()),
                          const_cast<char*>(n_arg.c_str()), nullptr};
  pid_t pid = 0;
  REQUIRE(posix_spawn(&pid, CHUNK_WRITER, &actions, nullptr, argv.data(), environ) == 0);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);

  std::string text;
  char buf[65536];
  const auto kill_at = std::chrono::steady_clock::now() + run_for;
  bool killed = false;
  for (;;) {
    if (!killed && std::chrono::steady_clock::now() >= kill_at) {
      ::kill(pid, SIGKILL);
      killed = true;
    }
    pollfd p{fds[0], POLLIN, 0};
    const int ready = ::poll(&p, 1, killed ? 1000 : 1);
    if (ready > 0) {
      const ssize_t n = ::read(fds[0], buf, sizeof buf);
      if (n <= 0) break;  // the writer is gone and the pipe is drained
      text.append(buf, static_cast<std::size_t>(n));
    } else if (killed && ready == 0) {
      FAIL("the killed writer's pipe did not close within 1 s");
    }
  }
  ::close(fds[0]);
  Round round;
  REQUIRE(::waitpid(pid, &round.status, 0) == pid);
  std::istringstream lines(text);
  std::string word, id;
  core::ChunkIndex index = 0;
  while (lines >> word >> id >> index) {
    if (word == "ack") round.acked.emplace(id, index);
  }
  return round;
}

}  // namespace

TEST_CASE("after SIGKILL at many points every acknowledged chunk is present and intact", "[fs][crash]") {
  TempDir dir;
  const int recordings = 4;
  std::mt19937 rng(20261121);
  std::uniform_int_distribution<int> micros(0, 40000);
  std::set<std::pair<std::string, core::ChunkIndex>> acked_ever;
  std::size_t kills_mid_run = 0;

  for (int round = 0; round < 40; ++round) {
    INFO("round " << round);
    // Some rounds die before the writer has opened anything, most while it writes.
    const auto run_for = std::chrono::microseconds(round % 8 == 0 ? micros(rng) / 40 : micros(rng));
    Round r = run_and_kill(dir.path(), recordings, run_for);
    REQUIRE(WIFSIGNALED(r.status));
    CHECK(WTERMSIG(r.status) == SIGKILL);
    if (!r.acked.empty()) ++kills_mid_run;
    acked_ever.insert(r.acked.begin(), r.acked.end());

    adapters::fs::FsChunkStore store(dir.path());
    for (int k = 0; k < recordings; ++k) {
      const std::string id = "rec" + std::to_string(k);
      auto layout = store.layout(id);
      if (!layout) {
        CHECK(layout.error().code == core::Errc::not_found);
        continue;
      }
      for (const auto& span : layout->spans) {
        INFO(id << " chunk " << span.index);
        CHECK(read_range(layout->data_file, span.offset, span.length) ==
              chunk_content(id, span.index, chunk_size_for(span.index)));
      }
    }
    for (const auto& [id, index] : acked_ever) {
      INFO(id << " acknowledged chunk " << index);
      auto ledger = store.scan(id);
      REQUIRE(ledger);
      CHECK(ledger->contains(index));
    }
  }
  CHECK(kills_mid_run >= 20);
  CHECK(acked_ever.size() > 100);
}
