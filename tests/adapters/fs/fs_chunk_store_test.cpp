#include <catch2/catch.hpp>

#include <fstream>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "recorder/testing/chunk_checks.hpp"
#include "recorder/testing/chunk_content.hpp"
#include "recorder/testing/read_file.hpp"
#include "recorder/adapters/fs/fs_chunk_store.hpp"
#include "recorder/testing/temp_dir.hpp"

using recorder::testing::check_intact;
using recorder::testing::chunk_content;
using recorder::testing::read_range;
using recorder::testing::TempDir;

using namespace recorder;
using adapters::fs::FsChunkStore;

namespace {

void put_ok(FsChunkStore& store, const std::string& id, core::ChunkIndex i, std::size_t size = 1000) {
  auto r = store.put(id, i, chunk_content(id, i, size));
  INFO((r ? "" : r.error().message));
  REQUIRE(r);
}

// Every chunk the layout serves holds exactly the bytes that were sent for it.
void append_bytes(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::app);
  out << bytes;
}

}  // namespace

TEST_CASE("chunks written in order make the data file the recording itself", "[fs]") {
  TempDir dir;
  FsChunkStore store(dir.path());
  for (core::ChunkIndex i = 0; i < 20; ++i) put_ok(store, "rec-1", i);
  auto layout = store.layout("rec-1");
  REQUIRE(layout);
  CHECK(layout->in_order);
  CHECK(layout->ledger.chunk_count() == 20);
  CHECK(std::filesystem::file_size(layout->data_file) == 20 * 1000);
  std::vector<std::byte> expected;
  for (core::ChunkIndex i = 0; i < 20; ++i) {
    auto c = chunk_content("rec-1", i, 1000);
    expected.insert(expected.end(), c.begin(), c.end());
  }
  CHECK(read_range(layout->data_file, 0, 20000) == expected);
}

TEST_CASE("out-of-order chunks are found by index - and a reopened store sees the same", "[fs]") {
  TempDir dir;
  {
    FsChunkStore store(dir.path());
    for (core::ChunkIndex i : {3u, 0u, 1u, 7u}) put_ok(store, "rec-2", i);
    auto layout = store.layout("rec-2");
    REQUIRE(layout);
    CHECK_FALSE(layout->in_order);
    CHECK(layout->ledger.missing() == std::vector<core::ChunkIndex>{2, 4, 5, 6});
  }
  FsChunkStore reopened(dir.path());
  auto ledger = reopened.scan("rec-2");
  REQUIRE(ledger);
  CHECK(ledger->chunk_count() == 4);
  CHECK(ledger->missing() == std::vector<core::ChunkIndex>{2, 4, 5, 6});
  check_intact(reopened, "rec-2", 1000);
  put_ok(reopened, "rec-2", 2);
  CHECK(reopened.scan("rec-2")->missing() == std::vector<core::ChunkIndex>{4, 5, 6});
}

TEST_CASE("a torn last write is detected - dropped and cut off", "[fs]") {
  TempDir dir;
  std::filesystem::path data;
  std::filesystem::path index;
  {
    FsChunkStore store(dir.path());
    for (core::ChunkIndex i = 0; i < 5; ++i) put_ok(store, "rec-3", i);
    data = store.directory("rec-3") / "data";
    index = store.directory("rec-3") / "index";
  }
  SECTION("half a record") {
    append_bytes(data, std::string(1000, 'z'));
    append_bytes(index, std::string(17, '\x01'));
  }
  SECTION("a whole record whose payload never made it") {
    // Copy the last record: wrong offset, so it is not contiguous.
    std::ifstream in(index, std::ios::binary);
    std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    append_bytes(index, all.substr(all.size() - 32));
  }
  SECTION("payload bytes with no record") { append_bytes(data, std::string(300, 'q')); }

  FsChunkStore store(dir.path());
  auto ledger = store.scan("rec-3");
  REQUIRE(ledger);
  CHECK(ledger->chunk_count() == 5);
  CHECK(ledger->next_index() == 5);
  CHECK(std::filesystem::file_size(data) == 5000);
  CHECK(std::filesystem::file_size(index) == 5 * 32);
  check_intact(store, "rec-3", 1000);
  put_ok(store, "rec-3", 5);
  CHECK(store.layout("rec-3")->in_order);
}

TEST_CASE("a damaged chunk in the middle is not served - the ones after it are", "[fs]") {
  TempDir dir;
  std::filesystem::path data;
  {
    FsChunkStore store(dir.path());
    for (core::ChunkIndex i = 0; i < 5; ++i) put_ok(store, "rec-4", i);
    data = store.directory("rec-4") / "data";
  }
  {
    std::fstream f(data, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(2500);  // inside chunk 2
    f.put('X');
  }
  FsChunkStore store(dir.path());
  auto ledger = store.scan("rec-4");
  REQUIRE(ledger);
  CHECK(ledger->missing() == std::vector<core::ChunkIndex>{2});
  CHECK(ledger->chunk_count() == 4);
  check_intact(store, "rec-4", 1000);
  // The client sends it again; the new copy is served.
  put_ok(store, "rec-4", 2);
  CHECK(store.scan("rec-4")->missing().empty());
  check_intact(store, "rec-4", 1000);
  FsChunkStore again(dir.path());
  CHECK(again.scan("rec-4")->chunk_count() == 5);
  check_intact(again, "rec-4", 1000);
}

TEST_CASE("recording ids become safe directory names", "[fs]") {
  CHECK(FsChunkStore::directory_name("abc-123_X.y") == "abc-123_X.y");
  CHECK(FsChunkStore::directory_name("../etc") == "%2e2e2f657463");
  CHECK(FsChunkStore::directory_name("a/b") == "%612f62");
  CHECK(FsChunkStore::directory_name(".hidden").front() == '%');
  CHECK(FsChunkStore::directory_name("") == "%");
  TempDir dir;
  FsChunkStore store(dir.path());
  put_ok(store, "../../escape", 0);
  CHECK(std::filesystem::exists(dir.path() / FsChunkStore::directory_name("../../escape") / "data"));
  CHECK(std::distance(std::filesystem::directory_iterator(dir.path()), std::filesystem::directory_iterator{}) == 1);
}

TEST_CASE("an unknown recording has no chunks - remove deletes them", "[fs]") {
  TempDir dir;
  FsChunkStore store(dir.path());
  auto none = store.scan("nobody");
  REQUIRE(none);
  CHECK(none->empty());
  CHECK_FALSE(std::filesystem::exists(store.directory("nobody")));
  put_ok(store, "gone", 0);
  REQUIRE(store.remove("gone"));
  CHECK_FALSE(std::filesystem::exists(store.directory("gone")));
  CHECK(store.scan("gone")->empty());
}

TEST_CASE("more recordings than open-file slots still store and verify", "[fs]") {
  TempDir dir;
  FsChunkStore store(dir.path(), 4);
  for (int round = 0; round < 3; ++round) {
    for (int r = 0; r < 10; ++r) put_ok(store, "r" + std::to_string(r), static_cast<core::ChunkIndex>(round), 300);
  }
  for (int r = 0; r < 10; ++r) {
    auto layout = store.layout("r" + std::to_string(r));
    REQUIRE(layout);
    CHECK(layout->in_order);
    CHECK(layout->ledger.chunk_count() == 3);
  }
}

TEST_CASE("two processes' stores take turns on one recording - each forgets before it writes again", "[fs][cluster]") {
  // As two recorderd instances on a shared volume when a recording is handed over and back.
  TempDir dir;
  FsChunkStore first(dir.path());
  FsChunkStore second(dir.path());
  for (core::ChunkIndex i = 0; i < 3; ++i) put_ok(first, "rec-1", i);
  REQUIRE(second.scan("rec-1")->chunk_count() == 3);
  // The second holds it now and writes two more.
  first.forget("rec-1");
  for (core::ChunkIndex i = 3; i < 5; ++i) put_ok(second, "rec-1", i);
  // Back to the first: having forgotten, it sees all five and appends after them.
  second.forget("rec-1");
  REQUIRE(first.scan("rec-1")->chunk_count() == 5);
  put_ok(first, "rec-1", 5);
  auto layout = first.layout("rec-1");
  REQUIRE(layout);
  CHECK(layout->in_order);
  CHECK(layout->ledger.chunk_count() == 6);
  std::vector<std::byte> expected;
  for (core::ChunkIndex i = 0; i < 6; ++i) {
    auto c = chunk_content("rec-1", i, 1000);
    expected.insert(expected.end(), c.begin(), c.end());
  }
  CHECK(read_range(layout->data_file, 0, 6000) == expected);
  FsChunkStore third(dir.path());
  CHECK(third.scan("rec-1")->chunk_count() == 6);
}

TEST_CASE("a store whose view is stale writes nothing - one that another process is writing waits its turn",
          "[fs][cluster]") {
  TempDir dir;
  FsChunkStore first(dir.path(), 16, true);
  FsChunkStore second(dir.path(), 16, true);
  for (core::ChunkIndex i = 0; i < 2; ++i) put_ok(first, "rec-1", i);
  // The second takes it over and appends; the first, paused meanwhile, has not forgotten.
  REQUIRE(second.scan("rec-1")->chunk_count() == 2);
  put_ok(second, "rec-1", 2);
  auto stale = first.put("rec-1", 3, chunk_content("rec-1", 3, 1000));
  REQUIRE_FALSE(stale);
  CHECK(stale.error().code == core::Errc::lease_lost);
  CHECK_THAT(stale.error().message, Catch::Contains("written by another process"));
  second.forget("rec-1");
  CHECK(second.scan("rec-1")->chunk_count() == 3);  // nothing of the first's attempt

  // A process paused half-way through a write holds its lock: nobody verifies (and cuts)
  // or appends meanwhile, and both can go on once it has finished.
  const int held = ::open((second.directory("rec-1") / "index").c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(held >= 0);
  REQUIRE(::flock(held, LOCK_EX) == 0);
  FsChunkStore third(dir.path(), 16, true);
  auto busy = third.scan("rec-1");
  REQUIRE_FALSE(busy);
  CHECK(busy.error().code == core::Errc::unavailable);
  CHECK_THAT(busy.error().message, Catch::Contains("being written by another process"));
  auto blocked = second.put("rec-1", 3, chunk_content("rec-1", 3, 1000));
  REQUIRE_FALSE(blocked);
  CHECK(blocked.error().code == core::Errc::lease_lost);
  ::close(held);
  CHECK(third.scan("rec-1")->chunk_count() == 3);
  put_ok(third, "rec-1", 3);
  check_intact(third, "rec-1", 1000);
}
