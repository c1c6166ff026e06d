#pragma once

// Child processes for tests that crash things for real.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace recorder::testing {

struct KilledRun {
  std::set<std::pair<std::string, std::uint64_t>> acked;  // every "ack <id> <index>" line it printed
  int status = 0;                                         // as waitpid reports it
};

// Runs argv with stdout on a pipe, SIGKILLs it after `run_for`, and collects every ack
// line it wrote before it died. Throws std::runtime_error when it cannot be run.
KilledRun run_and_kill(const std::vector<std::string>& argv, std::chrono::microseconds run_for);

// The same, but the kill comes once the child has printed `acks` ack lines (then after
// `then`, to land at different instructions): where it lands does not depend on load.
// A child that never gets there is killed after `cap`.
KilledRun run_and_kill_after_acks(const std::vector<std::string>& argv, std::size_t acks,
                                  std::chrono::microseconds then,
                                  std::chrono::milliseconds cap = std::chrono::seconds(30));

// Starts argv in the background with stdout and stderr appended to `log`.
pid_t spawn(const std::vector<std::string>& argv, const std::filesystem::path& log);

// How many times `text` occurs in the file (0 when it does not exist).
std::size_t count_in_file(const std::filesystem::path& file, const std::string& text);

// Waits until `text` occurs `count` times in the file, or the deadline passes.
bool wait_for_text(const std::filesystem::path& file, const std::string& text, std::size_t count,
                   std::chrono::milliseconds deadline);

// Polls `done` every 20 ms until it holds (true) or the deadline passes (false).
bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds deadline);

// Waits for the process to exit; its exit status, or nothing after the deadline.
std::optional<int> wait_exit(pid_t pid, std::chrono::milliseconds deadline);

// recorderd (the binary at `recorderd`) started on `data` with `extra` arguments, logging to
// `log` (appended), listening on a free loopback port: its pid and port once it logged
// that it started, or nothing (and the process is killed) after `deadline`. `prefix` runs
// it through another program (for example prlimit) that execs it in the same process.
struct RunningProcess {
  pid_t pid = 0;
  int port = 0;
};
std::optional<RunningProcess> start_recorderd(const std::string& recorderd, const std::filesystem::path& data,
                                              const std::filesystem::path& log,
                                              const std::vector<std::string>& extra = {},
                                              std::chrono::milliseconds deadline = std::chrono::seconds(20),
                                              const std::vector<std::string>& prefix = {});

// The resident set of a process in KiB (0 when it is gone).
long rss_kib(pid_t pid);
// The CPU time (user + system) a process has used, in seconds.
double cpu_seconds(pid_t pid);

}  // namespace recorder::testing
