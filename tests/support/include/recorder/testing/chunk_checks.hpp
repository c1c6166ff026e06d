#pragma once

// Catch checks over a chunk store's files.

#include <catch2/catch.hpp>

#include "recorder/adapters/fs/fs_chunk_store.hpp"
#include "recorder/testing/chunk_content.hpp"
#include "recorder/testing/read_file.hpp"

namespace recorder::testing {

// Every chunk the store serves holds exactly the bytes chunk_content() made for it.
inline void check_intact(adapters::fs::FsChunkStore& store, const std::string& id, std::size_t size) {
  auto layout = store.layout(id);
  REQUIRE(layout);
  for (const auto& span : layout->spans) {
    INFO("chunk " << span.index);
    CHECK(read_range(layout->data_file, span.offset, span.length) == chunk_content(id, span.index, size));
  }
}

}  // namespace recorder::testing
