// Webhook delivery under load (docs/performance.md, "Webhooks"): recorderd delivers a
// backlog of notices to three endpoints, one of them down, and the figures are the rate
// each healthy endpoint is served at, beside the bench's own signed POSTs to the same
// receiver (the baseline), and the ack latency of streaming recordings meanwhile, beside
// the same streams without the backlog, on the same kind of server in the same run.
//
//   notify_load RECORDERD [--notices 10000] [--streams 1000] [--seconds 15] [--runs 2]
//
// The receivers are tests/webhooks/receiver.mjs (Node, verifying every signature with the
// Standard Webhooks reference library), as in the tests.

#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sqlite3.h>

#include <atomic>
#include <fstream>
#include <thread>

#include <fmt/format.h>

#include "recorder/adapters/webhook/standard_webhooks.hpp"
#include "recorder/testing/process.hpp"
#include "server_process.hpp"
#include "stream_driver.hpp"

namespace fs = std::filesystem;
using recorder::bench::Clock;
using recorder::bench::percentile;
using recorder::bench::Server;

namespace {

const std::string kSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

struct Receiver {
  pid_t pid = 0;
  int port = 0;
  std::string url() const { return fmt::format("http://127.0.0.1:{}/hook", port); }
};

Receiver start_receiver(const fs::path& dir, const std::string& name) {
  const auto port_file = dir / (name + ".port");
  fs::remove(port_file);
  Receiver r;
  r.pid = recorder::testing::spawn({NODE, RECORDER_SOURCE_DIR "/tests/webhooks/receiver.mjs", kSecret,
                                    (dir / (name + ".jsonl")).string(), port_file.string()},
                                   dir / (name + ".out"));
  if (!recorder::testing::wait_until([&] { return fs::exists(port_file); }, std::chrono::seconds(20)))
    throw std::runtime_error("the receiver did not start");
  r.port = std::stoi(slurp(port_file));
  return r;
}

// A loopback port nothing listens on: the endpoint that is down.
int dead_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

std::size_t append(char* data, std::size_t size, std::size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

std::string http_get(const std::string& url, const std::string& token) {
  CURL* c = curl_easy_init();
  std::string body;
  curl_slist* h = curl_slist_append(nullptr, ("Authorization: Bearer " + token).c_str());
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &append);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
  curl_easy_perform(c);
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  return body;
}

// The pending count GET /api/webhooks gives for `name` (-1 when it cannot be read).
long pending(const Server& s, const std::string& token, const std::string& name) {
  const std::string body = http_get(fmt::format("http://127.0.0.1:{}/api/webhooks", s.port), token);
  const auto at = body.find(fmt::format("\"name\":\"{}\"", name));
  if (at == std::string::npos) return -1;
  const auto p = body.find("\"pending\":", at);
  if (p == std::string::npos || body.compare(p + 10, 4, "null") == 0) return -1;
  return std::stol(body.substr(p + 10));
}

// `count` notices appended to the running server's outbox, in one transaction, as another
// process that shares the SQLite file would (recorderd reads the outbox as the truth).
void append_notices(const fs::path& db_file, int count, int batch) {
  sqlite3* db = nullptr;
  if (sqlite3_open(db_file.c_str(), &db) != SQLITE_OK) throw std::runtime_error("cannot open the store");
  sqlite3_busy_timeout(db, 10000);
  sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "INSERT INTO outbox (id, type, recording_id, at, payload) VALUES (?, 'agent.connected', NULL, ?, ?)",
                     -1, &st, nullptr);
  const auto now = std::chrono::duration_cast<std::chrono::microseconds>(
                       std::chrono::system_clock::now().time_since_epoch()).count();
  for (int i = 0; i < count; ++i) {
    const std::string id = fmt::format("bench-{}-{}", batch, i);
    const std::string payload = fmt::format(R"({{"agent_id":"room-{}","detail":"connected from 127.0.0.1:{}"}})", i, 40000 + i % 20000);
    sqlite3_bind_text(st, 1, id.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, now);
    sqlite3_bind_text(st, 3, payload.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_step(st);
    sqlite3_reset(st);
  }
  sqlite3_finalize(st);
  if (sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) throw std::runtime_error(sqlite3_errmsg(db));
  sqlite3_close(db);
}

// The baseline: the bench itself posts `count` signed requests of the same size, one after
// another on one kept-alive connection (as each of recorderd's delivery threads does), to
// the same receiver.
double baseline_posts_per_s(const Receiver& r, int count) {
  const std::string body(
      R"({"type":"agent.connected","timestamp":"2026-11-23T10:00:00Z","data":{"agent_id":"room-1","connected":true,"detail":"connected from 127.0.0.1:40001"}})");
  CURL* c = curl_easy_init();
  const auto start = Clock::now();
  for (int i = 0; i < count; ++i) {
    const std::string id = fmt::format("base-{}", i);
    const auto ts = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    const std::vector<std::string> secrets{kSecret};
    const auto sig = recorder::adapters::webhook::sign(secrets, id, ts, body);
    curl_easy_reset(c);
    curl_slist* h = nullptr;
    for (const std::string& line : {std::string("Content-Type: application/json"), "webhook-id: " + id,
                                    fmt::format("webhook-timestamp: {}", ts), "webhook-signature: " + *sig,
                                    std::string("Expect:")})
      h = curl_slist_append(h, line.c_str());
    std::string answer;
    curl_easy_setopt(c, CURLOPT_URL, r.url().c_str());
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &append);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &answer);
    curl_easy_perform(c);
    curl_slist_free_all(h);
  }
  curl_easy_cleanup(c);
  return count / std::chrono::duration<double>(Clock::now() - start).count();
}

void stop(const Server& s) {
  ::kill(s.pid, SIGTERM);
  recorder::testing::wait_exit(s.pid, std::chrono::seconds(30));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    fmt::print(stderr, "usage: notify_load RECORDERD [--notices N] [--streams M] [--seconds S] [--runs R]\n");
    return 2;
  }
  const std::string binary = argv[1];
  int notices = 10000, streams = 1000, runs = 2;
  double seconds = 15;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--notices") notices = std::stoi(argv[i + 1]);
    else if (a == "--streams") streams = std::stoi(argv[i + 1]);
    else if (a == "--seconds") seconds = std::stod(argv[i + 1]);
    else if (a == "--runs") runs = std::stoi(argv[i + 1]);
    else {
      fmt::print(stderr, "notify_load: unknown option '{}'\n", a);
      return 2;
    }
  }
  rlimit nofile{};
  ::getrlimit(RLIMIT_NOFILE, &nofile);
  nofile.rlim_cur = nofile.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &nofile);
  curl_global_init(CURL_GLOBAL_DEFAULT);

  const fs::path dir = fs::temp_directory_path() / "recorderd-notify-load";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const Receiver a = start_receiver(dir, "a");
  const Receiver b = start_receiver(dir, "b");
  const auto config = dir / "hooks.toml";
  std::ofstream(config) << fmt::format(
      "[[webhooks]]\nname = \"down\"\nurl = \"http://127.0.0.1:{}/hook\"\nsecret = \"{}\"\n"
      "[[webhooks]]\nname = \"a\"\nurl = \"{}\"\nsecret = \"{}\"\n"
      "[[webhooks]]\nname = \"b\"\nurl = \"{}\"\nsecret = \"{}\"\n",
      dead_port(), kSecret, a.url(), kSecret, b.url(), kSecret);
  fmt::print("notify_load: {} cores, {} notices to 3 endpoints (one down), {} streams x one 64 KiB chunk a second, "
             "{} s per phase\n",
             std::thread::hardware_concurrency(), notices, streams, seconds);

  for (int run = 1; run <= runs; ++run) {
    const double base = baseline_posts_per_s(b, std::min(notices, 2000));

    // Delivery alone: the backlog appears at once; how long until both healthy endpoints have it.
    Server s = recorder::bench::start_server(binary, dir / "server", {}, {"--config", config.string()});
    const std::string token = [&] {
      std::string t = slurp(dir / "server" / "data" / "admin.token");
      while (!t.empty() && t.back() == '\n') t.pop_back();
      return t;
    }();
    recorder::testing::wait_until([&] { return pending(s, token, "a") == 0 && pending(s, token, "b") == 0; },
                                  std::chrono::seconds(10));
    const double server_cpu0 = recorder::bench::proc_stats(s.pid).cpu_seconds;
    const double receivers_cpu0 = recorder::bench::proc_stats(a.pid).cpu_seconds + recorder::bench::proc_stats(b.pid).cpu_seconds;
    const auto t0 = Clock::now();
    append_notices(dir / "server" / "data" / "recorderd.db", notices, run * 2);
    // An insert by another process wakes nothing: the periodic pass (every second) finds
    // the rows. The rate counts from the first delivery.
    std::array<double, 2> first{0, 0};
    std::array<double, 2> drained{0, 0};
    while (drained[0] == 0 || drained[1] == 0) {
      for (std::size_t k = 0; k < 2; ++k) {
        const long left = pending(s, token, k == 0 ? "a" : "b");
        const double at = std::chrono::duration<double>(Clock::now() - t0).count();
        if (first[k] == 0 && left >= 0 && left < notices) first[k] = at;
        if (drained[k] == 0 && left == 0) drained[k] = at;
      }
      if (std::chrono::duration<double>(Clock::now() - t0).count() > 600) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    const long down_pending = pending(s, token, "down");
    const auto st = recorder::bench::proc_stats(s.pid);
    const double receivers_cpu = recorder::bench::proc_stats(a.pid).cpu_seconds +
                                 recorder::bench::proc_stats(b.pid).cpu_seconds - receivers_cpu0;
    const double rate_a = notices / std::max(drained[0] - first[0], 1e-3);
    const double rate_b = notices / std::max(drained[1] - first[1], 1e-3);
    fmt::print("run {}: delivery alone: {} notices to a at {:.0f}/s, to b at {:.0f}/s (first delivery {:.2f} s after "
               "the insert, all delivered at {:.2f} s); baseline, the bench's own signed POSTs to b one after "
               "another: {:.0f}/s, so each endpoint is served at {:.0f} % of it; the endpoint that is down holds {} "
               "pending; CPU per 1,000 deliveries: server {:.2f} s, the two receivers {:.2f} s; server RSS {} MiB\n",
               run, notices, rate_a, rate_b, std::min(first[0], first[1]), std::max(drained[0], drained[1]), base,
               100.0 * std::min(rate_a, rate_b) / base, down_pending, (st.cpu_seconds - server_cpu0) * 500.0 / notices,
               receivers_cpu * 500.0 / notices, st.rss_kib / 1024);
    stop(s);

    // Streams without, then with, a backlog being delivered.
    double p99_without = 0;
    for (const bool backlog : {false, true}) {
      Server t = recorder::bench::start_server(binary, dir / "server", {}, {"--config", config.string()});
      std::atomic<double> drain_s{0};
      std::thread feeder;
      if (backlog) {
        feeder = std::thread([&] {
          // Once the streams are under way (1,000 connections take a few seconds).
          std::this_thread::sleep_for(std::chrono::duration<double>(std::min(4.0, seconds / 3)));
          std::string tk = slurp(dir / "server" / "data" / "admin.token");
          while (!tk.empty() && tk.back() == '\n') tk.pop_back();
          const auto f0 = Clock::now();
          append_notices(dir / "server" / "data" / "recorderd.db", notices, run * 2 + 1);
          recorder::testing::wait_until([&] { return pending(t, tk, "a") == 0 && pending(t, tk, "b") == 0; },
                                        std::chrono::seconds(300));
          drain_s = std::chrono::duration<double>(Clock::now() - f0).count();
        });
      }
      auto f = recorder::bench::drive(t.port, streams, seconds, std::chrono::milliseconds(1000), 1,
                                      backlog ? "with" : "without");
      if (feeder.joinable()) feeder.join();
      const double p99 = percentile(f.latency_ms, 0.99);
      if (!backlog) {
        p99_without = p99;
        fmt::print("run {}: {} streams alone: {} chunks in {:.1f} s, ack p50 {:.2f} ms p99 {:.2f} ms\n", run, streams,
                   f.chunks, f.seconds, percentile(f.latency_ms, 0.5), p99);
      } else {
        fmt::print("run {}: the same while {} notices are delivered (drained in {:.2f} s): {} chunks in {:.1f} s, ack "
                   "p50 {:.2f} ms p99 {:.2f} ms ({:.2f}x the p99 without)\n",
                   run, notices, drain_s.load(), f.chunks, f.seconds, percentile(f.latency_ms, 0.5), p99,
                   p99 / std::max(p99_without, 0.001));
      }
      stop(t);
    }
  }
  ::kill(a.pid, SIGTERM);
  ::kill(b.pid, SIGTERM);
  return 0;
}
