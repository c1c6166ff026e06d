#include "recorder/testing/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <iterator>
#include <optional>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace recorder::testing {
namespace {

std::vector<char*> c_args(const std::vector<std::string>& argv) {
  std::vector<char*> out;
  for (const auto& a : argv) out.push_back(const_cast<char*>(a.c_str()));
  out.push_back(nullptr);
  return out;
}

}  // namespace

namespace {

std::size_t count_acks(const std::string& text) {
  std::size_t n = 0;
  for (auto at = text.find("ack "); at != std::string::npos; at = text.find("ack ", at + 4)) ++n;
  return n;
}

// Reads the child's stdout; kills it when `kill_now(text)` says so; returns once it is gone.
KilledRun run_until(const std::vector<std::string>& argv, const std::function<bool(const std::string&)>& kill_now) {
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  auto args = c_args(argv);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    throw std::runtime_error("cannot run " + argv[0]);
  }
  std::string text;
  char buf[65536];
  bool killed = false;
  for (;;) {
    if (!killed && kill_now(text)) {
      ::kill(pid, SIGKILL);
      killed = true;
    }
    pollfd p{fds[0], POLLIN, 0};
    const int ready = ::poll(&p, 1, killed ? 5000 : 1);
    if (ready > 0) {
      const ssize_t n = ::read(fds[0], buf, sizeof buf);
      if (n <= 0) break;  // the child is gone and the pipe is drained
      text.append(buf, static_cast<std::size_t>(n));
    } else if (killed && ready == 0) {
      ::close(fds[0]);
      throw std::runtime_error("the killed process's pipe did not close within 5 s");
    }
  }
  ::close(fds[0]);
  KilledRun run;
  if (::waitpid(pid, &run.status, 0) != pid) throw std::runtime_error("waitpid failed");
  std::istringstream lines(text);
  std::string word;
  std::string id;
  std::uint64_t index = 0;
  while (lines >> word >> id >> index) {
    if (word == "ack") run.acked.emplace(id, index);
  }
  return run;
}

}  // namespace

KilledRun run_and_kill(const std::vector<std::string>& argv, std::chrono::microseconds run_for) {
  const auto kill_at = std::chrono::steady_clock::now() + run_for;
  return run_until(argv, [kill_at](const std::string&) { return std::chrono::steady_clock::now() >= kill_at; });
}

KilledRun run_and_kill_after_acks(const std::vector<std::string>& argv, std::size_t acks,
                                  std::chrono::microseconds then, std::chrono::milliseconds cap) {
  const auto give_up = std::chrono::steady_clock::now() + cap;
  std::optional<std::chrono::steady_clock::time_point> kill_at;
  return run_until(argv, [&](const std::string& text) {
    const auto now = std::chrono::steady_clock::now();
    if (!kill_at && count_acks(text) >= acks) kill_at = now + then;
    return (kill_at && now >= *kill_at) || now >= give_up;
  });
}

pid_t spawn(const std::vector<std::string>& argv, const std::filesystem::path& log) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  auto args = c_args(argv);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("cannot run " + argv[0]);
  return pid;
}

std::size_t count_in_file(const std::filesystem::path& file, const std::string& text) {
  std::ifstream in(file);
  const std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::size_t n = 0;
  for (auto at = all.find(text); at != std::string::npos; at = all.find(text, at + text.size())) ++n;
  return n;
}

bool wait_for_text(const std::filesystem::path& file, const std::string& text, std::size_t count,
                   std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    if (count_in_file(file, text) >= count) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return count_in_file(file, text) >= count;
}

bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

std::optional<int> wait_exit(pid_t pid, std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  int status = 0;
  while (std::chrono::steady_clock::now() < until) {
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return std::nullopt;
}

std::optional<RunningProcess> start_recorderd(const std::string& recorderd, const std::filesystem::path& data,
                                              const std::filesystem::path& log, const std::vector<std::string>& extra,
                                              std::chrono::milliseconds deadline, const std::vector<std::string>& prefix) {
  std::vector<std::string> argv = prefix;
  argv.insert(argv.end(), {recorderd, "--data-dir", data.string(), "--listen", "127.0.0.1:0"});
  argv.insert(argv.end(), extra.begin(), extra.end());
  const std::size_t before = count_in_file(log, "recorderd started");
  const pid_t pid = spawn(argv, log);
  if (!wait_for_text(log, "msg=\"recorderd started\"", before + 1, deadline)) {
    ::kill(pid, SIGKILL);
    wait_exit(pid, std::chrono::seconds(5));
    return std::nullopt;
  }
  std::ifstream in(log);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::regex listen(R"(listen=127\.0\.0\.1:(\d+))");
  std::string last;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), listen); it != std::sregex_iterator(); ++it)
    last = (*it)[1];
  if (last.empty()) return std::nullopt;
  return RunningProcess{pid, std::stoi(last)};
}

double cpu_seconds(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  const std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const auto close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream in(text.substr(close + 2));
  std::vector<std::string> f;
  for (std::string field; in >> field;) f.push_back(field);
  if (f.size() < 13) return 0;
  return (std::stod(f[11]) + std::stod(f[12])) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

long rss_kib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

}  // namespace recorder::testing
