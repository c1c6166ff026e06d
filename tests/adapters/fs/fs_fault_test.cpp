// Write failures, injected with libfiu (this binary runs under its POSIX preload) and real
// ENOSPC on a small tmpfs: a chunk that could not be made durable is an error, is never
// acknowledged, is not served afterwards, and never takes acknowledged chunks with it.

#include <catch2/catch.hpp>

#include <fiu-control.h>
#include <fiu.h>
#include <sys/mount.h>

#include <cerrno>
#include <cstring>
#include <fstream>

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

// Makes `point` fail with `err`: every time, or only the next time.
struct Fault {
  Fault(const char* point, int err, bool once = false) : name(point) {
    REQUIRE(fiu_enable(point, 1, reinterpret_cast<void*>(static_cast<long>(err)), once ? FIU_ONETIME : 0) == 0);
  }
  ~Fault() { fiu_disable(name); }
  const char* name;
};

}  // namespace

TEST_CASE("the fault injector is active in this process", "[fs][faults]") {
  fiu_init(0);
  TempDir dir;
  const auto path = dir.path() / "probe";
  std::ofstream(path) << "x";
  Fault f("posix/io/sync/fdatasync", EIO);
  FILE* file = std::fopen(path.c_str(), "r");
  REQUIRE(file);
  const int rc = ::fdatasync(::fileno(file));
  const int err = errno;
  std::fclose(file);
  INFO("run this binary with LD_PRELOAD=/usr/lib/fiu/fiu_run_preload.so /usr/lib/fiu/fiu_posix_preload.so");
  REQUIRE(rc == -1);
  CHECK(err == EIO);
}

TEST_CASE("EIO from fdatasync is an error on that chunk - not an acknowledgement", "[fs][faults]") {
  fiu_init(0);
  TempDir dir;
  FsChunkStore store(dir.path());
  for (core::ChunkIndex i = 0; i < 3; ++i) REQUIRE(store.put("r", i, chunk_content("r", i, 5000)));
  {
    Fault f("posix/io/sync/fdatasync", EIO, true);
    auto failed = store.put("r", 3, chunk_content("r", 3, 5000));
    REQUIRE_FALSE(failed);
    CHECK(failed.error().code == core::Errc::io_error);
    CHECK(failed.error().message.find("Input/output error") != std::string::npos);
    CHECK(failed.error().message.find("cannot sync") != std::string::npos);
  }
  // Not served, not half there, and the files were cut back.
  CHECK(store.scan("r")->chunk_count() == 3);
  CHECK(std::filesystem::file_size(store.directory("r") / "data") == 15000);
  // Sent again, it is stored once.
  REQUIRE(store.put("r", 3, chunk_content("r", 3, 5000)));
  FsChunkStore reopened(dir.path());
  CHECK(reopened.scan("r")->chunk_count() == 4);
  CHECK(reopened.layout("r")->in_order);
  check_intact(reopened, "r", 5000);
}

TEST_CASE("ENOSPC from a write is storage_full on that chunk", "[fs][faults]") {
  fiu_init(0);
  TempDir dir;
  FsChunkStore store(dir.path());
  REQUIRE(store.put("r", 0, chunk_content("r", 0, 5000)));
  {
    Fault f("posix/io/rw/pwrite", ENOSPC, true);
    auto failed = store.put("r", 1, chunk_content("r", 1, 5000));
    REQUIRE_FALSE(failed);
    CHECK(failed.error().code == core::Errc::storage_full);
    CHECK(failed.error().message.find("No space left on device") != std::string::npos);
  }
  CHECK(store.scan("r")->chunk_count() == 1);
  REQUIRE(store.put("r", 1, chunk_content("r", 1, 5000)));
  check_intact(store, "r", 5000);
}

TEST_CASE("when even the rollback fails - the files are refused until verified again", "[fs][faults]") {
  fiu_init(0);
  TempDir dir;
  {
    FsChunkStore store(dir.path());
    REQUIRE(store.put("r", 0, chunk_content("r", 0, 5000)));
    {
      Fault sync("posix/io/sync/fdatasync", EIO);
      Fault truncate("posix/io/rw/ftruncate", EIO);
      REQUIRE_FALSE(store.put("r", 1, chunk_content("r", 1, 5000)));
    }
    auto refused = store.put("r", 1, chunk_content("r", 1, 5000));
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == core::Errc::io_error);
    CHECK(refused.error().message.find("in doubt") != std::string::npos);
    // Other recordings are not affected.
    CHECK(store.put("other", 0, chunk_content("other", 0, 100)));
  }
  // At the next start the files are verified: what was acknowledged is there.
  FsChunkStore reopened(dir.path());
  auto ledger = reopened.scan("r");
  REQUIRE(ledger);
  CHECK(ledger->contains(0));
  check_intact(reopened, "r", 5000);
  REQUIRE(reopened.put("r", 1, chunk_content("r", 1, 5000)));
  check_intact(reopened, "r", 5000);
}

TEST_CASE("a really full filesystem: every acknowledged chunk survives - no write crashes", "[fs][enospc]") {
  TempDir dir;
  const auto mnt = dir.path() / "small";
  std::filesystem::create_directories(mnt);
  const int rc = ::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=1m");
  INFO("mounting a 1 MiB tmpfs needs root: " << std::strerror(errno));
  REQUIRE(rc == 0);
  struct Unmount {
    std::filesystem::path p;
    ~Unmount() { ::umount2(p.c_str(), MNT_DETACH); }
  } unmount{mnt};

  FsChunkStore store(mnt);
  core::ChunkIndex acked = 0;
  core::Result<void> last = core::ok();
  for (core::ChunkIndex i = 0; i < 100; ++i) {
    last = store.put("full", i, chunk_content("full", i, 64 * 1024));
    if (!last) break;
    ++acked;
  }
  REQUIRE_FALSE(last);
  CHECK(last.error().code == core::Errc::storage_full);
  CHECK(acked >= 10);
  CHECK(acked < 16);
  // The same chunk fails again rather than being half-stored.
  CHECK(store.put("full", acked, chunk_content("full", acked, 64 * 1024)).error().code == core::Errc::storage_full);

  FsChunkStore reopened(mnt);
  auto ledger = reopened.scan("full");
  REQUIRE(ledger);
  CHECK(ledger->chunk_count() == acked);
  CHECK(ledger->complete());
  check_intact(reopened, "full", 64 * 1024);
}
