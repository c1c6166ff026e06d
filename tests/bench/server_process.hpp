#pragma once

// The recorderd binary as a benchmark runs it: on a fresh data directory, on a free
// loopback port, with its CPU time and memory read from /proc.

#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "recorder/testing/process.hpp"

namespace recorder::bench {

namespace fs = std::filesystem;

struct Server {
  pid_t pid = 0;
  int port = 0;
  fs::path dir;
};

// Starts the recorderd binary on a fresh data directory under `dir` (or on the one there,
// when not `fresh`), with `--set` for each of `settings` and then `extra` arguments;
// returns once it listens.
inline Server start_server(const std::string& binary, const fs::path& dir, const std::vector<std::string>& settings = {},
                           const std::vector<std::string>& extra = {}, bool fresh = true) {
  // Start each scenario with the previous one's dirty pages on disk.
  ::sync();
  if (fresh) fs::remove_all(dir);
  fs::create_directories(dir);
  Server s{0, 0, dir};
  const auto log = dir / "recorderd.log";
  std::vector<std::string> args{binary, "--data-dir", (dir / "data").string(), "--listen", "127.0.0.1:0", "--set",
                                 "log.level=warn"};
  for (const auto& kv : settings) {
    args.push_back("--set");
    args.push_back(kv);
  }
  args.insert(args.end(), extra.begin(), extra.end());
  s.pid = recorder::testing::spawn(args, log);
  // log.level=warn hides the start line; read the port from /proc instead.
  for (int i = 0; i < 200 && s.port == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::ifstream tcp("/proc/net/tcp");
    std::string line;
    const std::string inode_dir = fmt::format("/proc/{}/fd", s.pid);
    std::set<std::string> inodes;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(inode_dir, ec)) {
      auto target = fs::read_symlink(e.path(), ec).string();
      if (target.rfind("socket:[", 0) == 0) inodes.insert(target.substr(8, target.size() - 9));
    }
    std::getline(tcp, line);
    while (std::getline(tcp, line)) {
      std::istringstream in(line);
      std::string sl, local, remote, st, queues, tr, retr, uid, timeout, inode;
      in >> sl >> local >> remote >> st >> queues >> tr >> retr >> uid >> timeout >> inode;
      if (st == "0A" && inodes.contains(inode)) s.port = std::stoi(local.substr(local.find(':') + 1), nullptr, 16);
    }
  }
  if (s.port == 0) throw std::runtime_error("recorderd did not start listening");
  return s;
}

struct ProcStats {
  double cpu_seconds = 0;
  long rss_kib = 0;
};

inline ProcStats proc_stats(pid_t pid) { return {recorder::testing::cpu_seconds(pid), recorder::testing::rss_kib(pid)}; }

inline double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::ranges::sort(v);
  return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
}

}  // namespace recorder::bench
