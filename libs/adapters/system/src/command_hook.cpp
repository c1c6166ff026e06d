#include "recorder/adapters/system/command_hook.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

extern char** environ;

namespace recorder::adapters::system {
namespace {

constexpr std::size_t kStderrTail = 1024;  // of a failing command's standard error, for the operator

struct Pipe {
  int read = -1;
  int write = -1;
  ~Pipe() {
    if (read >= 0) ::close(read);
    if (write >= 0) ::close(write);
  }
  bool open() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return false;
    read = fds[0];
    write = fds[1];
    return true;
  }
};

std::string printable(const std::string& text) {
  std::string out;
  for (char ch : text) out += (ch == '\n' || ch == '\t') ? ' ' : (static_cast<unsigned char>(ch) < 0x20 ? '?' : ch);
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

}  // namespace

CommandHookSender::CommandHookSender(Writers writers, std::chrono::milliseconds timeout)
    : writers_(std::move(writers)), timeout_(timeout) {}

core::WebhookAttempt CommandHookSender::send(const core::WebhookEndpoint& endpoint, const core::OutboxEntry& entry) {
  core::WebhookAttempt attempt;
  if (cancelled_) {
    attempt.error = "recorderd is shutting down";
    return attempt;
  }
  const std::string input = writers_.stdin_text(entry);
  std::vector<std::string> args{endpoint.url};
  for (auto& a : writers_.arguments(entry)) args.push_back(std::move(a));
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  Pipe in, err;
  if (!in.open() || !err.open()) {
    attempt.error = fmt::format("cannot make pipes: {}", std::strerror(errno));
    return attempt;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in.read, STDIN_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, err.write, STDERR_FILENO);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setpgroup(&attr, 0);  // its own group: a timeout kills its children too
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);  // the daemon blocks SIGTERM; the hook must not inherit that
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);  // the daemon ignores it; the hook gets the usual behaviour
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = 0;
  const int spawned = ::posix_spawn(&pid, argv[0], &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (spawned != 0) {
    attempt.error = fmt::format("cannot run {}: {}", endpoint.url, std::strerror(spawned));
    return attempt;
  }
  ::close(in.read);
  in.read = -1;
  ::close(err.write);
  err.write = -1;
  ::fcntl(in.write, F_SETFL, O_NONBLOCK);

  // Feed its input and keep the tail of its errors until it exits or the time is up.
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  std::size_t written = 0;
  std::string tail;
  // Keeps the last kStderrTail bytes of what it wrote to standard error; false at its end.
  const auto read_errors = [&] {
    char buffer[4096];
    const ssize_t got = ::read(err.read, buffer, sizeof buffer);
    if (got <= 0) return false;
    tail.append(buffer, static_cast<std::size_t>(got));
    if (tail.size() > kStderrTail) tail.erase(0, tail.size() - kStderrTail);
    return true;
  };
  int status = 0;
  bool exited = false, timed_out = false;
  while (!exited) {
    if (std::chrono::steady_clock::now() >= deadline || cancelled_) {
      timed_out = !cancelled_;
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      break;
    }
    pollfd fds[2] = {{err.read, POLLIN, 0}, {in.write, POLLOUT, 0}};
    const nfds_t n = in.write >= 0 ? 2 : 1;
    ::poll(fds, n, 50);
    if (fds[0].revents & (POLLIN | POLLHUP)) (void)read_errors();
    if (n == 2 && (fds[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
      const ssize_t put = ::write(in.write, input.data() + written, input.size() - written);
      if (put > 0) written += static_cast<std::size_t>(put);
      if (put < 0 && errno != EAGAIN) written = input.size();  // it closed its input: fine
      if (written >= input.size()) {
        ::close(in.write);
        in.write = -1;
      }
    }
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) exited = true;
  }
  while (read_errors()) {  // what it wrote just before it exited
  }
  const std::string said = tail.empty() ? "" : fmt::format("; its standard error ends: {}", printable(tail));
  if (cancelled_) {
    attempt.error = "recorderd is shutting down";
  } else if (timed_out) {
    attempt.error = fmt::format("{} did not finish within {} s and was killed{}", endpoint.url,
                                std::chrono::duration_cast<std::chrono::seconds>(timeout_).count(), said);
  } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    attempt.status = 200;
  } else if (WIFEXITED(status)) {
    attempt.error = fmt::format("{} exited with status {}{}", endpoint.url, WEXITSTATUS(status), said);
  } else {
    attempt.error = fmt::format("{} was ended by signal {}{}", endpoint.url, WTERMSIG(status), said);
  }
  return attempt;
}

}  // namespace recorder::adapters::system
