#pragma once

// The baseline every storage figure is compared with: N writers, one file each, append the
// same bytes and fdatasync after each chunk, for a while.

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
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

}  // namespace recorder::bench
