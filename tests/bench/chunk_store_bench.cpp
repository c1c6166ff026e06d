// Durable chunk appends for N concurrent recordings through FsChunkStore, beside a baseline
// in the same run: raw append + fdatasync of the same bytes, one file per writer. Prints
// throughput, syncs/s and latency percentiles per chunk size, and the ratio to baseline.
//
//   chunk_store_bench [--recordings N] [--seconds S] [--sizes 16384,65536,262144] [--dir DIR]

#include <fcntl.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "recorder/adapters/fs/fs_chunk_store.hpp"

using namespace std::chrono;
namespace fs = std::filesystem;

namespace {

struct Figures {
  double seconds = 0;
  std::uint64_t chunks = 0;
  std::uint64_t bytes = 0;
  std::uint64_t syncs = 0;
  std::vector<double> latencies_us;

  double mb_per_s() const { return static_cast<double>(bytes) / seconds / 1e6; }
  double percentile(double p) {
    if (latencies_us.empty()) return 0;
    std::ranges::sort(latencies_us);
    const auto at = static_cast<std::size_t>(p * static_cast<double>(latencies_us.size() - 1));
    return latencies_us[at];
  }
};

// Runs `work(writer, index, bytes)` from `writers` threads for `seconds`; each call is one
// chunk; returns what it did.
template <typename Work>
Figures drive(int writers, double seconds, std::size_t size, int syncs_per_chunk, Work work) {
  std::atomic<bool> stop{false};
  std::mutex mutex;
  Figures f;
  std::vector<std::thread> threads;
  const auto start = steady_clock::now();
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      std::vector<std::byte> payload(size, std::byte{0x5a});
      std::vector<double> lat;
      std::uint64_t n = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        const auto t0 = steady_clock::now();
        if (!work(w, n, payload)) break;
        lat.push_back(duration<double, std::micro>(steady_clock::now() - t0).count());
        ++n;
      }
      std::lock_guard lock(mutex);
      f.chunks += n;
      f.latencies_us.insert(f.latencies_us.end(), lat.begin(), lat.end());
    });
  }
  std::this_thread::sleep_for(duration<double>(seconds));
  stop = true;
  for (auto& t : threads) t.join();
  f.seconds = duration<double>(steady_clock::now() - start).count();
  f.bytes = f.chunks * size;
  f.syncs = f.chunks * static_cast<std::uint64_t>(syncs_per_chunk);
  return f;
}

long peak_rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

void report(const char* name, Figures& f, double baseline_mb) {
  fmt::print("  {:<9} {:>9.1f} MB/s {:>8.0f} chunks/s {:>8.0f} syncs/s  p50 {:>8.0f} us  p99 {:>8.0f} us",
             name, f.mb_per_s(), static_cast<double>(f.chunks) / f.seconds, static_cast<double>(f.syncs) / f.seconds,
             f.percentile(0.5), f.percentile(0.99));
  if (baseline_mb > 0) fmt::print("  {:>5.1f} % of baseline", 100.0 * f.mb_per_s() / baseline_mb);
  fmt::print("\n");
}

}  // namespace

int main(int argc, char** argv) {
  int recordings = 200;
  double seconds = 3;
  std::vector<std::size_t> sizes{16 * 1024, 64 * 1024, 256 * 1024};
  fs::path dir = fs::temp_directory_path() / "recorderd-bench";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string arg = argv[i];
    if (arg == "--recordings") recordings = std::stoi(argv[i + 1]);
    else if (arg == "--seconds") seconds = std::stod(argv[i + 1]);
    else if (arg == "--dir") dir = argv[i + 1];
    else if (arg == "--sizes") {
      sizes.clear();
      std::string list = argv[i + 1];
      for (std::size_t at = 0; at < list.size();) {
        const auto comma = list.find(',', at);
        sizes.push_back(std::stoul(list.substr(at, comma - at)));
        at = comma == std::string::npos ? list.size() : comma + 1;
      }
    }
  }
  utsname u{};
  ::uname(&u);
  fmt::print("chunk store benchmark: {} recordings, {} s per run, {} cores, kernel {}, dir {}\n", recordings, seconds,
             std::thread::hardware_concurrency(), u.release, dir.string());

  for (std::size_t size : sizes) {
    fmt::print("chunk size {} KiB\n", size / 1024);
    fs::remove_all(dir);
    fs::create_directories(dir);
    std::vector<int> fds(static_cast<std::size_t>(recordings));
    for (int w = 0; w < recordings; ++w) {
      fds[static_cast<std::size_t>(w)] =
          ::open((dir / fmt::format("raw{}", w)).c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    }
    Figures baseline = drive(recordings, seconds, size, 1, [&](int w, std::uint64_t, const std::vector<std::byte>& p) {
      const int fd = fds[static_cast<std::size_t>(w)];
      return ::write(fd, p.data(), p.size()) == static_cast<ssize_t>(p.size()) && ::fdatasync(fd) == 0;
    });
    for (int fd : fds) ::close(fd);
    report("baseline", baseline, 0);

    // The store alone, and with the lock several instances on a shared volume need (ADR 0018).
    for (const bool shared : {false, true}) {
      fs::remove_all(dir);
      recorder::adapters::fs::FsChunkStore store(dir / "chunks", static_cast<std::size_t>(recordings) + 16, shared);
      Figures stored = drive(recordings, seconds, size, 2, [&](int w, std::uint64_t n, const std::vector<std::byte>& p) {
        auto r = store.put(fmt::format("rec{}", w), n, p);
        if (!r) fmt::print(stderr, "put failed: {}\n", r.error().message);
        return r.has_value();
      });
      report(shared ? "shared" : "store", stored, baseline.mb_per_s());
    }
  }
  fs::remove_all(dir);
  fmt::print("peak RSS {} MiB\n", peak_rss_kib() / 1024);
  return 0;
}
