// Load generator for recorderd's /ws/record: starts the recorderd binary on a temporary data
// directory, drives it from one client thread over loopback, and prints throughput, ack
// latency percentiles, server CPU seconds per GB and server RSS, beside the raw
// append+fdatasync baseline of the same bytes in the same run.
//
//   ws_load RECORDERD [--streams 200] [--seconds 5] [--rate-streams 1000] [--idle 5000]
//
// Scenarios: (1) N streams send 64 KiB binary chunks as fast as acks allow (4 in flight
// each); (2) M streams send one 64 KiB chunk a second; (3) K idle connections.

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <websocketpp/client.hpp>
#include <websocketpp/config/asio_no_tls_client.hpp>

#include <algorithm>
#include <deque>
#include <fstream>
#include <iterator>
#include <regex>
#include <thread>

#include <fmt/format.h>

#include "baseline.hpp"
#include "recorder/testing/process.hpp"

using Client = websocketpp::client<websocketpp::config::asio_client>;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

namespace {

constexpr std::size_t kChunk = 64 * 1024;

struct Stream {
  websocketpp::connection_hdl hdl;
  std::string id;
  bool started = false;
  bool open = false;
  std::deque<Clock::time_point> inflight;
  std::uint64_t acked = 0;
};

struct Server {
  pid_t pid = 0;
  int port = 0;
  fs::path dir;
};

Server start_server(const std::string& binary, const fs::path& dir) {
  // Start each scenario with the previous one's dirty pages on disk.
  ::sync();
  fs::remove_all(dir);
  fs::create_directories(dir);
  Server s{0, 0, dir};
  const auto log = dir / "recorderd.log";
  s.pid = recorder::testing::spawn({binary, "--data-dir", (dir / "data").string(), "--listen", "127.0.0.1:0", "--set",
                                    "log.level=warn"},
                                   log);
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

ProcStats proc_stats(pid_t pid) {
  ProcStats st;
  std::ifstream stat(fmt::format("/proc/{}/stat", pid));
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  std::istringstream in(text.substr(text.rfind(')') + 2));
  std::string field;
  std::vector<std::string> f;
  while (in >> field) f.push_back(field);
  const double tick = static_cast<double>(::sysconf(_SC_CLK_TCK));
  st.cpu_seconds = (std::stod(f[11]) + std::stod(f[12])) / tick;  // utime, stime
  std::ifstream status(fmt::format("/proc/{}/status", pid));
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) st.rss_kib = std::stol(line.substr(6));
  }
  return st;
}

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::ranges::sort(v);
  return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
}

// Drives `count` streams against the server for `seconds`. `interval` zero: as fast as acks
// allow with `window` chunks in flight; else one chunk per stream per interval.
struct LoadFigures {
  double seconds = 0;
  std::uint64_t chunks = 0;
  std::vector<double> latency_ms;
  int connected = 0;
};

LoadFigures drive(int port, int count, double seconds, std::chrono::milliseconds interval, std::size_t window,
                  const std::string& prefix) {
  Client client;
  client.clear_access_channels(websocketpp::log::alevel::all);
  client.clear_error_channels(websocketpp::log::elevel::all);
  client.init_asio();
  std::vector<Stream> streams(static_cast<std::size_t>(count));
  const std::string payload(kChunk, 'p');
  LoadFigures f;
  bool running = true;
  const auto send_one = [&](Stream& s) {
    websocketpp::lib::error_code ec;
    s.inflight.push_back(Clock::now());
    client.send(s.hdl, payload, websocketpp::frame::opcode::binary, ec);
  };
  std::map<websocketpp::connection_hdl, std::size_t, std::owner_less<websocketpp::connection_hdl>> index;
  client.set_open_handler([&](websocketpp::connection_hdl h) {
    Stream& s = streams[index[h]];
    s.open = true;
    websocketpp::lib::error_code ec;
    client.send(h, R"({"event":"start","data":{"recordId":")" + s.id + R"("}})", websocketpp::frame::opcode::text, ec);
  });
  client.set_message_handler([&](websocketpp::connection_hdl h, Client::message_ptr m) {
    Stream& s = streams[index[h]];
    const std::string& text = m->get_payload();
    if (text.find("chunkAck") != std::string::npos && !s.inflight.empty()) {
      f.latency_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - s.inflight.front()).count());
      s.inflight.pop_front();
      ++s.acked;
      ++f.chunks;
      if (running && interval.count() == 0) send_one(s);
    } else if (text.find("\"started\"") != std::string::npos) {
      s.started = true;
      ++f.connected;
      if (interval.count() == 0)
        for (std::size_t i = 0; i < window; ++i) send_one(s);
    }
  });
  for (int i = 0; i < count; ++i) {
    websocketpp::lib::error_code ec;
    auto con = client.get_connection(fmt::format("ws://127.0.0.1:{}/ws/record", port), ec);
    if (ec) throw std::runtime_error(ec.message());
    streams[static_cast<std::size_t>(i)].hdl = con->get_handle();
    streams[static_cast<std::size_t>(i)].id = fmt::format("{}-{}", prefix, i);
    index[con->get_handle()] = static_cast<std::size_t>(i);
    client.connect(con);
  }
  std::thread io([&] { client.run(); });
  // Wait until every stream has started, then measure.
  const auto ready_until = Clock::now() + std::chrono::seconds(60);
  while (Clock::now() < ready_until) {
    int started = 0;
    asio::post(client.get_io_service(), [&] { started = f.connected; });
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (started >= count) break;
  }
  asio::steady_timer ticker(client.get_io_service());
  std::function<void()> tick;
  std::size_t next = 0;
  if (interval.count() > 0) {
    // Spread the streams evenly over each interval.
    const auto step = interval / std::max(count, 1);
    tick = [&] {
      if (!running) return;
      Stream& s = streams[next++ % streams.size()];
      if (s.started) send_one(s);
      ticker.expires_after(std::max<std::chrono::nanoseconds>(step, std::chrono::microseconds(100)));
      ticker.async_wait([&](const asio::error_code& e) {
        if (!e) tick();
      });
    };
    asio::post(client.get_io_service(), tick);
  }
  asio::post(client.get_io_service(), [&] { f.chunks = 0; f.latency_ms.clear(); });
  const auto start = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  std::promise<void> stopped;
  asio::post(client.get_io_service(), [&] {
    running = false;
    f.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    ticker.cancel();
    stopped.set_value();
  });
  stopped.get_future().wait();
  // Let in-flight acks land, then close every stream cleanly.
  std::this_thread::sleep_for(std::chrono::seconds(1));
  asio::post(client.get_io_service(), [&] {
    for (auto& s : streams) {
      websocketpp::lib::error_code ec;
      client.close(s.hdl, websocketpp::close::status::normal, "done", ec);
    }
  });
  client.stop_perpetual();
  std::this_thread::sleep_for(std::chrono::seconds(1));
  client.stop();
  io.join();
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    fmt::print(stderr, "usage: ws_load RECORDERD [--streams N] [--seconds S] [--rate-streams M] [--idle K]\n");
    return 2;
  }
  const std::string binary = argv[1];
  int streams = 200;
  double seconds = 5;
  int rate_streams = 1000;
  int idle = 5000;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--streams") streams = std::stoi(argv[i + 1]);
    else if (a == "--seconds") seconds = std::stod(argv[i + 1]);
    else if (a == "--rate-streams") rate_streams = std::stoi(argv[i + 1]);
    else if (a == "--idle") idle = std::stoi(argv[i + 1]);
  }
  rlimit nofile{};
  ::getrlimit(RLIMIT_NOFILE, &nofile);
  nofile.rlim_cur = nofile.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &nofile);

  const fs::path dir = fs::temp_directory_path() / "recorderd-ws-load";
  fmt::print("ws_load: {} cores, chunks of {} KiB, {} s per scenario\n", std::thread::hardware_concurrency(),
             kChunk / 1024, seconds);

  {
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
  {
    Server s = start_server(binary, dir / "run2");
    auto f = drive(s.port, rate_streams, seconds, std::chrono::milliseconds(1000), 1, "paced");
    const auto st = proc_stats(s.pid);
    fmt::print("2) {} streams x one chunk a second: {} chunks in {:.1f} s, ack p50 {:.1f} ms p99 {:.1f} ms; "
               "server RSS {} MiB\n",
               rate_streams, f.chunks, f.seconds, percentile(f.latency_ms, 0.5), percentile(f.latency_ms, 0.99),
               st.rss_kib / 1024);
    ::kill(s.pid, SIGTERM);
    recorder::testing::wait_exit(s.pid, std::chrono::seconds(30));
  }
  {
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
