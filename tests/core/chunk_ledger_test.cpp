#include <catch2/catch.hpp>

#include "recorder/core/domain/chunk_ledger.hpp"

using recorder::core::ChunkIndex;
using recorder::core::ChunkLedger;

TEST_CASE("an in-order ledger of any length is one interval", "[ledger]") {
  ChunkLedger ledger;
  for (ChunkIndex i = 0; i < 10000; ++i) REQUIRE(ledger.add(i, 10));
  CHECK(ledger.intervals().size() == 1);
  CHECK(ledger.next_index() == 10000);
  CHECK(ledger.chunk_count() == 10000);
  CHECK(ledger.total_bytes() == 100000);
  CHECK(ledger.missing().empty());
  CHECK(ledger.complete());
}

TEST_CASE("a duplicate chunk is refused and counted once", "[ledger]") {
  ChunkLedger ledger;
  REQUIRE(ledger.add(0, 5));
  CHECK_FALSE(ledger.add(0, 7));
  CHECK(ledger.chunk_count() == 1);
  CHECK(ledger.total_bytes() == 5);
}

TEST_CASE("out-of-order chunks report the gaps and close them when they arrive", "[ledger]") {
  ChunkLedger ledger;
  for (ChunkIndex i : {0u, 1u, 2u, 4u, 6u, 7u, 9u}) REQUIRE(ledger.add(i, 1));
  CHECK(ledger.next_index() == 10);
  CHECK(ledger.missing() == std::vector<ChunkIndex>{3, 5, 8});
  CHECK_FALSE(ledger.complete());
  CHECK(ledger.contains(4));
  CHECK_FALSE(ledger.contains(5));

  for (ChunkIndex i : {8u, 3u, 5u}) REQUIRE(ledger.add(i, 1));
  CHECK(ledger.missing().empty());
  CHECK(ledger.intervals().size() == 1);
  CHECK(ledger.complete());
}

TEST_CASE("a ledger that does not start at zero is missing its head", "[ledger]") {
  ChunkLedger ledger;
  REQUIRE(ledger.add(2, 1));
  CHECK(ledger.missing() == std::vector<ChunkIndex>{0, 1});
  CHECK_FALSE(ledger.complete());
  CHECK(ChunkLedger{}.complete());
  CHECK(ChunkLedger{}.next_index() == 0);
}
