// Test helper: writes chunks to an FsChunkStore from several threads until it is killed,
// printing "ack <recording> <index>" on stdout after each chunk the store acknowledged.
// On start it first fills the gaps a previous (killed) run left, then continues.

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "recorder/testing/chunk_content.hpp"
#include "recorder/adapters/fs/fs_chunk_store.hpp"

using recorder::testing::chunk_content;
using recorder::testing::chunk_size_for;

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: chunk_writer DIR RECORDINGS\n");
    return 2;
  }
  recorder::adapters::fs::FsChunkStore store(argv[1]);
  const int recordings = std::atoi(argv[2]);
  std::mutex out;
  std::vector<std::thread> threads;
  for (int r = 0; r < recordings; ++r) {
    threads.emplace_back([&, r] {
      const std::string id = "rec" + std::to_string(r);
      auto ledger = store.scan(id);
      if (!ledger) {
        std::fprintf(stderr, "scan %s: %s\n", id.c_str(), ledger.error().message.c_str());
        std::_Exit(3);
      }
      std::vector<recorder::core::ChunkIndex> todo = ledger->missing();
      for (recorder::core::ChunkIndex i = ledger->next_index();; ++i) {
        const recorder::core::ChunkIndex index = todo.empty() ? i : todo.back();
        if (!todo.empty()) {
          todo.pop_back();
          --i;
        }
        auto put = store.put(id, index, chunk_content(id, index, chunk_size_for(index)));
        if (!put) {
          std::fprintf(stderr, "put %s %llu: %s\n", id.c_str(), static_cast<unsigned long long>(index),
                       put.error().message.c_str());
          std::_Exit(4);
        }
        const std::string line = "ack " + id + " " + std::to_string(index) + "\n";
        std::lock_guard lock(out);
        if (::write(1, line.data(), line.size()) != static_cast<ssize_t>(line.size())) std::_Exit(5);
      }
    });
  }
  for (auto& t : threads) t.join();
}
