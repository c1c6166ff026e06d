// Test helper: a RecordingService on the daemon's own stores (SQLite and the chunk files in
// DATA_DIR), as recorderd wires them. It recovers what the store holds, resumes streams
// s0..sN-1 where their durable chunks end, and streams chunks into them until it is
// killed, printing "ack <id> <index>" after each chunk the service acknowledged.
//
// With NOTICES_FILE it also runs the outbox dispatcher with one durable subscriber, "file",
// which appends each notice id it is handed to that file and syncs it (slowly, as a remote
// endpoint would take them), so that kills land while notices are waiting. With RECORDINGS
// 0 it recovers, delivers every undelivered notice, prints "drained" and exits.

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "recorder/adapters/fs/fs_chunk_store.hpp"
#include "recorder/adapters/fs/fs_finalizer.hpp"
#include "recorder/adapters/sqlite/sqlite_repository.hpp"
#include "recorder/adapters/system/log.hpp"
#include "recorder/adapters/system/log_sinks.hpp"
#include "recorder/adapters/system/random_id_generator.hpp"
#include "recorder/adapters/system/statvfs_storage_probe.hpp"
#include "recorder/adapters/system/system_clock.hpp"
#include "recorder/adapters/system/thread_scheduler.hpp"
#include "recorder/core/app/outbox_dispatcher.hpp"
#include "recorder/core/app/recording_service.hpp"
#include "recorder/core/ports/notice_subscriber.hpp"
#include "recorder/testing/chunk_content.hpp"
#include "recorder/testing/fakes.hpp"

using namespace recorder;

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "stream_writer: %s\n", what.c_str());
  std::_Exit(3);
}

class FileSubscriber final : public core::NoticeSubscriber {
 public:
  explicit FileSubscriber(const char* path) : fd_(::open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) {
    if (fd_ < 0) die(std::string("cannot open ") + path);
  }
  std::string_view name() const override { return "file"; }
  core::Result<void> deliver(const core::OutboxEntry& entry) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    const std::string line = core::notice_id(entry.body) + "\n";
    if (::write(fd_, line.data(), line.size()) != static_cast<ssize_t>(line.size()) || ::fdatasync(fd_) != 0)
      return core::fail(core::Errc::io_error, "cannot append to the notices file");
    return core::ok();
  }

 private:
  int fd_;
};

int main(int argc, char** argv) {
  if (argc != 3 && argc != 4) die("usage: stream_writer DATA_DIR RECORDINGS [NOTICES_FILE]");
  const std::filesystem::path dir = argv[1];
  const int recordings = std::atoi(argv[2]);
  adapters::system::set_log_level("error");

  auto repo = adapters::sqlite::SqliteRepository::open(dir / "recorderd.db");
  if (!repo) die(repo.error().message);
  adapters::system::SystemClock clock;
  adapters::system::RandomIdGenerator ids;
  adapters::system::StatvfsStorageProbe probe(dir.string());
  adapters::system::LogOperatorLog oplog;
  testing::FakeEventPublisher events;
  adapters::system::ThreadScheduler scheduler;
  adapters::fs::FsChunkStore chunks(dir / "chunks");
  adapters::fs::FsFinalizer finalizer(chunks, dir);
  testing::FakeCaptureDriver capture;
  testing::FakeAgentChannel agents;
  core::RecordingService service(
      core::Ports{clock, scheduler, **repo, **repo, chunks, finalizer, capture, agents, probe, events, oplog, ids}, {}, {});
  scheduler.set_handler([&](const core::RecordingId& id, core::DeadlineKind k) { service.on_deadline(id, k); });
  scheduler.start();
  std::optional<FileSubscriber> file;
  core::OutboxDispatcher dispatcher(**repo, oplog, clock);
  if (argc == 4) {
    file.emplace(argv[3]);
    if (!dispatcher.add(*file)) die("cannot register the file subscriber");
  }
  if (auto r = service.recover(); !r || !r->failed.empty()) die("recovery failed");
  if (file && recordings == 0) {
    for (;;) {
      const auto pass = dispatcher.run_once();
      if (pass.delivered == 0 && !pass.more) break;
    }
    std::puts("drained");
    std::fflush(stdout);
    std::_Exit(0);
  }
  if (file) {
    std::thread([&] {
      for (;;) {
        if (!dispatcher.run_once().more) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }).detach();
  }

  std::mutex out;
  std::vector<std::thread> threads;
  for (int k = 0; k < recordings; ++k) {
    threads.emplace_back([&, k] {
      const std::string id = "s" + std::to_string(k);
      core::StreamLimits limits{core::Seconds{10800}, 16 << 20, 1ull << 36, 100000};
      auto started = service.start_stream(core::StreamStart{id, "", "video/webm", "", limits});
      if (!started) die("start " + id + ": " + started.error().message);
      if (!started->missing.empty()) die(id + " resumed with gaps");
      for (core::ChunkIndex i = started->next_index;; ++i) {
        auto ack = service.receive_chunk(id, i, testing::chunk_content(id, i, testing::chunk_size_for(i)));
        if (!ack) die("chunk " + id + " " + std::to_string(i) + ": " + ack.error().message);
        const std::string line = "ack " + id + " " + std::to_string(i) + "\n";
        std::lock_guard lock(out);
        if (::write(1, line.data(), line.size()) != static_cast<ssize_t>(line.size())) std::_Exit(5);
      }
    });
  }
  for (auto& t : threads) t.join();
}
