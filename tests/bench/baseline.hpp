#pragma once

// The baseline every storage figure is compared with: N writers, one file each, append the
// same bytes and fdatasync after each chunk, for a while.

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace recorder::bench {

struct BaselineFigures {
  double seconds = 0;
  std::uint64_t chunks = 0;
  std::uint64_t bytes = 0;
  double mb_per_s() const { return static_cast<double>(bytes) / seconds / 1e6; }
};

inline BaselineFigures raw_append_fdatasync(const std::filesystem::path& dir, int writers, std::size_t size,
                                            double seconds) {
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> chunks{0};
  std::vector<std::thread> threads;
  const auto start = std::chrono::steady_clock::now();
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      const std::vector<char> payload(size, 'x');
      const int fd = ::open((dir / ("raw" + std::to_string(w))).c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      while (fd >= 0 && !stop) {
        if (::write(fd, payload.data(), size) != static_cast<ssize_t>(size) || ::fdatasync(fd) != 0) break;
        ++chunks;
      }
      if (fd >= 0) ::close(fd);
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : threads) t.join();
  BaselineFigures f;
  f.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  f.chunks = chunks;
  f.bytes = chunks * size;
  std::filesystem::remove_all(dir);
  return f;
}

// The disk alone under scenario 2 and 4's pattern: `files` appends of `size` bytes a second,
// each with an fdatasync, spread evenly over `writers` threads and files; latency is from
// when an append was due to its sync. With `creations` a second more, a thread meanwhile
// does what a short recording costs the file system: a directory, a file with one chunk
// and its syncs, a hard link into another directory, the directory syncs, and three
// appends + fsyncs of a journal file (the database's commits).
inline std::vector<double> paced_disk_latencies_ms(const std::filesystem::path& dir, int files, std::size_t size,
                                                   double seconds, int creations, int writers = 32) {
  namespace fs = std::filesystem;
  using Clock = std::chrono::steady_clock;
  fs::remove_all(dir);
  fs::create_directories(dir / "chunks");
  fs::create_directories(dir / "recordings");
  const std::vector<char> payload(size, 'x');
  const auto append_sync = [&](const fs::path& p) {
    const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return;
    if (::write(fd, payload.data(), size) == static_cast<ssize_t>(size)) ::fdatasync(fd);
    ::close(fd);
  };
  const auto sync_dir = [](const fs::path& p) {
    const int fd = ::open(p.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
      ::fsync(fd);
      ::close(fd);
    }
  };
  std::mutex m;
  std::condition_variable cv;
  std::deque<std::pair<int, Clock::time_point>> due;  // (file, when it was due)
  std::vector<double> latencies;
  bool stop = false;
  std::vector<std::thread> threads;
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&] {
      std::unique_lock lock(m);
      for (;;) {
        cv.wait(lock, [&] { return stop || !due.empty(); });
        if (due.empty()) return;
        auto [file, at] = due.front();
        due.pop_front();
        lock.unlock();
        append_sync(dir / "chunks" / std::to_string(file));
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - at).count();
        lock.lock();
        latencies.push_back(ms);
      }
    });
  }
  std::atomic<bool> creating{creations > 0};
  std::thread creator([&] {
    const auto every = std::chrono::microseconds(1'000'000 / std::max(creations, 1));
    auto next = Clock::now();
    for (int n = 0; creating; ++n) {
      const auto d = dir / "chunks" / ("r" + std::to_string(n));
      fs::create_directories(d);
      append_sync(d / "payload");
      for (const auto& p : {d, d.parent_path(), dir}) sync_dir(p);
      append_sync(dir / "journal");
      const auto out = dir / "recordings" / ("r" + std::to_string(n));
      fs::create_directories(out);
      std::error_code ec;
      fs::create_hard_link(d / "payload", out / "original", ec);
      for (const auto& p : {out, out.parent_path()}) sync_dir(p);
      append_sync(dir / "journal");
      append_sync(dir / "journal");
      next += every;
      std::this_thread::sleep_until(next);
    }
  });
  const auto step = std::chrono::nanoseconds(1'000'000'000LL / std::max(files, 1));
  const auto start = Clock::now();
  auto at = start;
  for (int i = 0; Clock::now() - start < std::chrono::duration<double>(seconds); ++i) {
    {
      std::lock_guard lock(m);
      due.emplace_back(i % files, at);
    }
    cv.notify_one();
    at += step;
    std::this_thread::sleep_until(at);
  }
  creating = false;
  {
    std::lock_guard lock(m);
    stop = true;
  }
  cv.notify_all();
  for (auto& t : threads) t.join();
  creator.join();
  fs::remove_all(dir);
  return latencies;
}

}  // namespace recorder::bench
