// Load generator for recorderd's /ws/record: starts the recorderd binary on a temporary data
// directory, drives it from one client thread over loopback, and prints throughput, ack
// latency percentiles, server CPU seconds per GB and server RSS, beside the raw
// append+fdatasync baseline of the same bytes in the same run.
//
//   ws_load RECORDERD [--streams 200] [--seconds 5] [--rate-streams 1000] [--idle 5000]
//                     [--churn 20] [--api-clients 50] [--api-path /api/recordings?limit=100]
//                     [--api-rate 0] [--runs 3] [--only 5]
//
// Scenarios: (1) N streams send 64 KiB binary chunks as fast as acks allow (4 in flight
// each); (2) M streams send one 64 KiB chunk a second; (3) K idle connections; (4) as (2)
// while C new recordings a second start, take one chunk and stop (each on its own
// connection, as browser tabs do); (5) as (2) while A HTTP clients ask for
// GET /api/recordings?limit=100 as fast as they are answered (the REST API hammered), or
// --api-rate requests a second in all (an API in ordinary heavy use). (2),
// (4) and (5) alternate --runs times on fresh servers, so that each cost is a difference
// within one run of the program. --only N runs scenario N alone (with 2 beside 4 and 5).

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <fstream>
#include <iterator>
#include <regex>
#include <thread>

#include <fmt/format.h>

#include "baseline.hpp"
#include "http_hammer.hpp"
#include "server_process.hpp"
#include "stream_driver.hpp"
#include "recorder/testing/process.hpp"

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

namespace {

using recorder::bench::percentile;
using recorder::bench::proc_stats;
using recorder::bench::Server;
using recorder::bench::start_server;

using recorder::bench::Client;
using recorder::bench::drive;
using recorder::bench::kChunk;
using recorder::bench::LoadFigures;

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    fmt::print(stderr, "usage: ws_load RECORDERD [--streams N] [--seconds S] [--rate-streams M] [--idle K] "
                       "[--churn C] [--api-clients A] [--api-path P] [--api-rate Q] [--runs R] [--only N]\n");
    return 2;
  }
  const std::string binary = argv[1];
  int streams = 200;
  double seconds = 5;
  int rate_streams = 1000;
  int idle = 5000;
  int churn = 20;
  int api_clients = 50;
  int runs = 3;
  int only = 0;
  double api_rate = 0;
  std::string api_path = "/api/recordings?limit=100";
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--streams") streams = std::stoi(argv[i + 1]);
    else if (a == "--seconds") seconds = std::stod(argv[i + 1]);
    else if (a == "--rate-streams") rate_streams = std::stoi(argv[i + 1]);
    else if (a == "--idle") idle = std::stoi(argv[i + 1]);
    else if (a == "--churn") churn = std::stoi(argv[i + 1]);
    else if (a == "--api-clients") api_clients = std::stoi(argv[i + 1]);
    else if (a == "--runs") runs = std::stoi(argv[i + 1]);
    else if (a == "--only") only = std::stoi(argv[i + 1]);
    else if (a == "--api-path") api_path = argv[i + 1];
    else if (a == "--api-rate") api_rate = std::stod(argv[i + 1]);
    else {
      fmt::print(stderr, "ws_load: unknown option '{}'\n", a);
      return 2;
    }
  }
  rlimit nofile{};
  ::getrlimit(RLIMIT_NOFILE, &nofile);
  nofile.rlim_cur = nofile.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &nofile);

  const fs::path dir = fs::temp_directory_path() / "recorderd-ws-load";
  fmt::print("ws_load: {} cores, chunks of {} KiB, {} s per scenario\n", std::thread::hardware_concurrency(),
             kChunk / 1024, seconds);

  if (only == 0 || only == 1) {
    const auto base = recorder::bench::raw_append_fdatasync(dir / "baseline", streams, kChunk, seconds);
    Server s = start_server(binary, dir / "run1");
    const auto before = proc_stats(s.pid);
    auto f = drive(s.port, streams, seconds, std::chrono::milliseconds(0), 4, "fast");
    const auto after = proc_stats(s.pid);
    const double mb = static_cast<double>(f.chunks * kChunk) / 1e6;
    fmt::print("1) {} streams as fast as they go: {:.1f} MB/s ({} chunks), ack p50 {:.1f} ms p99 {:.1f} ms; "
               "baseline {:.1f} MB/s: {:.1f} %; server {:.2f} CPU s/GB, RSS {} MiB\n",
               streams, mb / f.seconds, f.chunks, percentile(f.latency_ms, 0.5), percentile(f.latency_ms, 0.99),
               base.mb_per_s(), 100.0 * (mb / f.seconds) / base.mb_per_s(),
               (after.cpu_seconds - before.cpu_seconds) / (mb / 1000.0), after.rss_kib / 1024);
    ::kill(s.pid, SIGTERM);
    recorder::testing::wait_exit(s.pid, std::chrono::seconds(30));
  }
  for (int run = 1; run <= runs && (only == 0 || only == 2 || only == 4 || only == 5); ++run) {
    // The disk alone, with and without the file-system work of the starts: what the
    // server's difference is to be compared with.
    auto disk = recorder::bench::paced_disk_latencies_ms(dir / "disk", rate_streams, kChunk, seconds, 0);
    auto disk_churn = recorder::bench::paced_disk_latencies_ms(dir / "disk", rate_streams, kChunk, seconds, churn);
    fmt::print("   run {}: the disk alone, {} appends of 64 KiB + fdatasync a second: p50 {:.2f} ms p99 {:.2f} ms; "
               "with {} recordings' files a second: p50 {:.2f} ms p99 {:.2f} ms ({:+.2f} ms p99)\n",
               run, rate_streams, percentile(disk, 0.5), percentile(disk, 0.99), churn,
               percentile(disk_churn, 0.5), percentile(disk_churn, 0.99),
               percentile(disk_churn, 0.99) - percentile(disk, 0.99));
    double p99_without = 0;
    for (const int with_churn : {0, churn}) {
      if (with_churn != 0 && only != 0 && only != 4) continue;
      Server s = start_server(binary, dir / "run2");
      auto f = drive(s.port, rate_streams, seconds, std::chrono::milliseconds(1000), 1, "paced", with_churn);
      const auto st = proc_stats(s.pid);
      const double p99 = percentile(f.latency_ms, 0.99);
      if (with_churn == 0) {
        p99_without = p99;
        fmt::print("2) run {}: {} streams x one chunk a second: {} chunks in {:.1f} s, ack p50 {:.2f} ms p99 {:.2f} ms "
                   "max {:.2f} ms; server RSS {} MiB\n",
                   run, rate_streams, f.chunks, f.seconds, percentile(f.latency_ms, 0.5), p99,
                   percentile(f.latency_ms, 1.0), st.rss_kib / 1024);
      } else {
        fmt::print("4) run {}: the same while {} recordings a second start and stop: {} chunks in {:.1f} s, ack p50 "
                   "{:.2f} ms p99 {:.2f} ms max {:.2f} ms ({:+.2f} ms p99 against 2); {} short recordings "
                   "({:.1f}/s, {} errors), start p50 {:.1f} ms p99 {:.1f} ms, stop to ready p50 {:.1f} ms p99 "
                   "{:.1f} ms; server RSS {} MiB\n",
                   run, with_churn, f.chunks, f.seconds, percentile(f.latency_ms, 0.5), p99,
                   percentile(f.latency_ms, 1.0), p99 - p99_without, f.churned,
                   static_cast<double>(f.churned) / f.seconds, f.churn_errors, percentile(f.churn_start_ms, 0.5),
                   percentile(f.churn_start_ms, 0.99), percentile(f.churn_stop_ms, 0.5),
                   percentile(f.churn_stop_ms, 0.99), st.rss_kib / 1024);
      }
      ::kill(s.pid, SIGTERM);
      recorder::testing::wait_exit(s.pid, std::chrono::seconds(30));
    }
    if (api_clients > 0 && (only == 0 || only == 5)) {
      Server s = start_server(binary, dir / "run2");
      std::ifstream token_file(dir / "run2" / "data" / "admin.token");
      std::string token;
      std::getline(token_file, token);
      std::atomic<bool> done{false};
      recorder::bench::Figures api;
      std::thread hammering([&] {
        api = recorder::bench::hammer_until(
            s.port, token, api_clients, [&](auto&) { return api_path; },
            [&] { return done.load(); }, api_rate);
      });
      auto f = drive(s.port, rate_streams, seconds, std::chrono::milliseconds(1000), 1, "hammered");
      done = true;
      hammering.join();
      const auto st = proc_stats(s.pid);
      const double p99 = percentile(f.latency_ms, 0.99);
      const std::string pace = api_rate > 0 ? fmt::format(" at {:.0f} req/s in all", api_rate) : std::string();
      fmt::print("5) run {}: the same as 2) while {} clients hammer GET {}{}: {} chunks in {:.1f} "
                 "s, ack p50 {:.2f} ms p99 {:.2f} ms max {:.2f} ms ({:+.2f} ms p99 against 2); the API answered "
                 "{:.0f} req/s, p50 {:.1f} ms p99 {:.1f} ms, {} errors; server RSS {} MiB\n",
                 run, api_clients, api_path, pace, f.chunks, f.seconds, percentile(f.latency_ms, 0.5), p99,
                 percentile(f.latency_ms, 1.0), p99 - p99_without, static_cast<double>(api.requests) / api.seconds,
                 api.percentile(0.5), api.percentile(0.99), api.errors, st.rss_kib / 1024);
      ::kill(s.pid, SIGTERM);
      recorder::testing::wait_exit(s.pid, std::chrono::seconds(30));
    }
  }
  if (only == 0 || only == 3) {
    Server s = start_server(binary, dir / "run3");
    const auto before = proc_stats(s.pid);
    Client client;
    client.clear_access_channels(websocketpp::log::alevel::all);
    client.clear_error_channels(websocketpp::log::elevel::all);
    client.init_asio();
    int open = 0;
    client.set_open_handler([&](websocketpp::connection_hdl) { ++open; });
    for (int i = 0; i < idle; ++i) {
      websocketpp::lib::error_code ec;
      auto con = client.get_connection(fmt::format("ws://127.0.0.1:{}/ws/record", s.port), ec);
      client.connect(con);
    }
    std::thread io([&] { client.run(); });
    for (int i = 0; i < 600; ++i) {
      int now = 0;
      asio::post(client.get_io_service(), [&] { now = open; });
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      if (now >= idle) break;
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
    const auto after = proc_stats(s.pid);
    fmt::print("3) {} idle connections ({} open): server RSS {} MiB -> {} MiB, {:.1f} KiB per connection\n", idle,
               open, before.rss_kib / 1024, after.rss_kib / 1024,
               static_cast<double>(after.rss_kib - before.rss_kib) / std::max(open, 1));
    ::kill(s.pid, SIGTERM);
    recorder::testing::wait_exit(s.pid, std::chrono::seconds(30));
    client.stop();
    io.join();
  }
  fs::remove_all(dir);
  return 0;
}
