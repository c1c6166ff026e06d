// A writer process is SIGKILLed at many different points while it stores chunks for
// several recordings. After each kill a fresh store must serve every acknowledged chunk
// intact, and nothing it serves may differ from what was sent.

#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <random>
#include <set>

#include "recorder/testing/chunk_content.hpp"
#include "recorder/testing/process.hpp"
#include "recorder/testing/read_file.hpp"
#include "recorder/adapters/fs/fs_chunk_store.hpp"
#include "recorder/testing/temp_dir.hpp"

using recorder::testing::chunk_content;
using recorder::testing::chunk_size_for;
using recorder::testing::read_range;
using recorder::testing::TempDir;

using namespace recorder;

TEST_CASE("after SIGKILL at many points every acknowledged chunk is present and intact", "[fs][crash]") {
  TempDir dir;
  const int recordings = 4;
  std::mt19937 rng(20261121);
  std::uniform_int_distribution<std::size_t> acks(0, 60);
  std::uniform_int_distribution<int> micros(0, 3000);
  std::set<std::pair<std::string, core::ChunkIndex>> acked_ever;
  std::size_t kills_mid_run = 0;

  for (int round = 0; round < 40; ++round) {
    INFO("round " << round);
    // Every eighth round dies before the writer has stored anything; the others after a
    // number of acknowledged chunks and a little more, so the kill lands mid-write.
    const std::size_t after = round % 8 == 0 ? 0 : 1 + acks(rng);
    auto r = testing::run_and_kill_after_acks({CHUNK_WRITER, dir.path().string(), std::to_string(recordings)}, after,
                                              std::chrono::microseconds(micros(rng)));
    REQUIRE(WIFSIGNALED(r.status));
    CHECK(WTERMSIG(r.status) == SIGKILL);
    if (after > 0) {
      CHECK(r.acked.size() >= after);
      ++kills_mid_run;
    }
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
  CHECK(kills_mid_run == 35);
  CHECK(acked_ever.size() > 100);
}
