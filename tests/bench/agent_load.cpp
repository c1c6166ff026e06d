// Meeting-room agents at scale (issue 11): starts the recorderd binary, connects N agents
// to /ws/agent from one client thread over loopback, each reporting recording_status every
// --interval seconds (seed 000: 5 s), and prints the server's memory per agent, the status
// ack latency percentiles and how late stale detection flags the agents that go silent.
// The baseline, in the same run on a fresh server: N JSON-RPC connections (/rpc) sending
// `ping` at the same rate, which costs the WebSocket and JSON work without the core.
//
//   agent_load RECORDERD [--agents 10000] [--seconds 30] [--interval 5] [--stale 10]
//                        [--silent 1000] [--poll-ms 100] [--burst 0|1]
//
// --stale sets limits.stale_seconds for the run (seed 000 says 60; detection is the same
// deadline machinery at any length, so a shorter one keeps the run short). --silent agents
// stop reporting after --seconds (every k-th agent, so that their deadlines spread over one
// interval; with --burst 1 a block of agents whose deadlines fall together, as in a network
// partition); every one must be flagged stale within 1 s of its deadline (last status +
// stale), and no other agent may be.

#include <curl/curl.h>
#include <sqlite3.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <websocketpp/client.hpp>
#include <websocketpp/config/asio_no_tls_client.hpp>

#include <algorithm>
#include <map>
#include <optional>
#include <rapidjson/document.h>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "server_process.hpp"

using Client = websocketpp::client<websocketpp::config::asio_client>;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;
using recorder::bench::percentile;
using recorder::bench::proc_stats;
using recorder::bench::start_server;

namespace {

struct Peer {
  websocketpp::connection_hdl hdl;
  bool ready = false;  // rpc: open; agent: its start_confirmed was acknowledged
  bool silent = false;
  std::string recording_id;
  Clock::time_point next_send{};
  std::optional<Clock::time_point> sent;  // the message awaiting its answer
  Clock::time_point last_status{};        // agent: when its last status was sent
  std::chrono::system_clock::time_point last_status_wall{};
};

struct Figures {
  std::vector<std::pair<double, double>> timeline;  // (seconds since the first send, latency ms)
  int ready = 0;
  double connect_seconds = 0;  // until every peer was ready
  std::uint64_t answered = 0;
  std::uint64_t errors = 0;
  std::vector<double> latency_ms;
  std::vector<Peer> peers;
};

std::string meeting(std::size_t i) {
  return fmt::format(R"("subject":"Meeting {}","organizer":"room{}@company.com","start_time":"2026-11-23T09:00:00Z")", i,
                     i);
}

// Connects `n` peers to `path_of(i)` (at most 500 handshakes at a time), then keeps each
// sending message_of(i) every `interval`, staggered evenly over it, for `seconds`; then
// silences the peers `is_silent` names and runs `after` on the client's thread until it
// returns false.
template <typename PathOf, typename FirstOf, typename MessageOf, typename IsSilent, typename After>
Figures run(int port, std::size_t n, double seconds, double interval, PathOf path_of, FirstOf first_of,
            MessageOf message_of, IsSilent is_silent, After after) {
  Client client;
  client.clear_access_channels(websocketpp::log::alevel::all);
  client.clear_error_channels(websocketpp::log::elevel::all);
  client.init_asio();
  Figures f;
  f.peers.resize(n);
  std::map<websocketpp::connection_hdl, std::size_t, std::owner_less<websocketpp::connection_hdl>> index;
  std::size_t next_connect = 0;
  std::size_t in_handshake = 0;
  const auto step = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(interval));
  bool measuring = false;
  Clock::time_point first_send{};
  const auto connect_more = [&] {
    while (next_connect < n && in_handshake < 500) {
      websocketpp::lib::error_code ec;
      auto con = client.get_connection(fmt::format("ws://127.0.0.1:{}{}", port, path_of(next_connect)), ec);
      if (ec) throw std::runtime_error(ec.message());
      index[con->get_handle()] = next_connect;
      f.peers[next_connect].hdl = con->get_handle();
      client.connect(con);
      ++next_connect;
      ++in_handshake;
    }
  };
  const auto send = [&](Peer& p, const std::string& text) {
    websocketpp::lib::error_code ec;
    p.sent = Clock::now();
    client.send(p.hdl, text, websocketpp::frame::opcode::text, ec);
    if (ec) ++f.errors;
  };
  client.set_open_handler([&](websocketpp::connection_hdl h) {
    --in_handshake;
    const std::size_t i = index[h];
    if (auto first = first_of(i)) send(f.peers[i], *first);
    else {
      f.peers[i].ready = true;
      ++f.ready;
    }
    connect_more();
  });
  client.set_fail_handler([&](websocketpp::connection_hdl) {
    --in_handshake;
    ++f.errors;
    connect_more();
  });
  client.set_message_handler([&](websocketpp::connection_hdl h, Client::message_ptr m) {
    Peer& p = f.peers[index[h]];
    const std::string& text = m->get_payload();
    if (text.find("error") != std::string::npos && text.find("\"result\"") == std::string::npos) ++f.errors;
    if (!p.ready) {  // the answer to the agent's start_confirmed
      rapidjson::Document d;
      d.Parse(text.c_str(), text.size());
      if (d.IsObject() && d.HasMember("data") && d["data"].HasMember("recording_id"))
        p.recording_id = d["data"]["recording_id"].GetString();
      p.ready = true;
      p.sent.reset();
      ++f.ready;
      return;
    }
    if (p.sent) {
      if (measuring) {
        f.latency_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - *p.sent).count());
        f.timeline.emplace_back(std::chrono::duration<double>(*p.sent - first_send).count(), f.latency_ms.back());
        ++f.answered;
      }
      p.sent.reset();
    }
  });

  asio::steady_timer tick(client.get_io_service());
  const auto started = Clock::now();
  Clock::time_point all_ready{};
  Clock::time_point end{};
  bool silenced = false;
  std::function<void()> on_tick = [&] {
    const auto now = Clock::now();
    if (all_ready == Clock::time_point{} && f.ready + static_cast<int>(f.errors) >= static_cast<int>(n)) {
      all_ready = now;
      f.connect_seconds = std::chrono::duration<double>(now - started).count();
      end = now + step + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
      for (std::size_t i = 0; i < n; ++i) f.peers[i].next_send = now + step * static_cast<long>(i) / static_cast<long>(n);
      measuring = true;
      first_send = now;
    }
    if (all_ready != Clock::time_point{}) {
      if (!silenced && now >= end) {
        silenced = true;
        measuring = false;
        for (std::size_t i = 0; i < n; ++i) f.peers[i].silent = is_silent(i);
      }
      for (std::size_t i = 0; i < n; ++i) {
        Peer& p = f.peers[i];
        if (!p.ready || p.silent || now < p.next_send) continue;
        p.next_send += step;
        p.last_status = now;
        p.last_status_wall = std::chrono::system_clock::now();
        send(p, message_of(i));
      }
      if (silenced && !after(f)) {
        client.stop();
        return;
      }
    }
    if (now - started > std::chrono::minutes(10)) throw std::runtime_error("the peers never all connected");
    tick.expires_after(std::chrono::milliseconds(5));
    tick.async_wait([&](const asio::error_code& ec) {
      if (!ec) on_tick();
    });
  };
  connect_more();
  on_tick();
  client.run();
  return f;
}

// The slowest answer in each interval of sending, to stderr: where the tail comes from.
void print_timeline(const Figures& f) {
  std::map<int, double> worst;
  for (const auto& [at, ms] : f.timeline) worst[static_cast<int>(at)] = std::max(worst[static_cast<int>(at)], ms);
  std::string line;
  for (const auto& [sec, ms] : worst) line += fmt::format(" {}s:{:.0f}", sec, ms);
  fmt::print(stderr, "slowest answer by second of sending:{}\n", line);
}

std::size_t write_to(char* data, std::size_t size, std::size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

std::string http_get(const std::string& url, const std::string& token) {
  CURL* curl = curl_easy_init();
  std::string body;
  curl_slist* headers = curl_slist_append(nullptr, ("Authorization: Bearer " + token).c_str());
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_to);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  curl_easy_perform(curl);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return body;
}

// When the server decided each recording was stale: the recording.stale notices' own times
// (taken by the core when it made the step, before anything was written), by recording id.
std::map<std::string, std::chrono::system_clock::time_point> stale_decisions(const fs::path& db_path) {
  std::map<std::string, std::chrono::system_clock::time_point> out;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) return out;
  sqlite3_busy_timeout(db, 5000);
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, "SELECT recording_id, at FROM outbox WHERE type = 'recording.stale'", -1, &st, nullptr) ==
      SQLITE_OK) {
    while (sqlite3_step(st) == SQLITE_ROW) {
      out.emplace(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)),
                  std::chrono::system_clock::time_point{std::chrono::microseconds{sqlite3_column_int64(st, 1)}});
    }
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

void stop_server(pid_t pid) {
  ::kill(pid, SIGTERM);
  recorder::testing::wait_exit(pid, std::chrono::seconds(60));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    fmt::print(stderr, "usage: agent_load RECORDERD [--agents N] [--seconds S] [--interval I] [--stale T] [--silent K]\n");
    return 2;
  }
  const std::string binary = argv[1];
  std::size_t agents = 10000;
  double seconds = 30;
  double interval = 5;
  int stale = 10;
  std::size_t silent = 1000;
  int poll_ms = 100;
  bool burst = false;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--agents") agents = std::stoul(argv[i + 1]);
    else if (a == "--seconds") seconds = std::stod(argv[i + 1]);
    else if (a == "--interval") interval = std::stod(argv[i + 1]);
    else if (a == "--stale") stale = std::stoi(argv[i + 1]);
    else if (a == "--silent") silent = std::stoul(argv[i + 1]);
    else if (a == "--poll-ms") poll_ms = std::stoi(argv[i + 1]);
    else if (a == "--burst") burst = std::string(argv[i + 1]) == "1";
    else {
      fmt::print(stderr, "agent_load: unknown option '{}'\n", a);
      return 2;
    }
  }
  silent = std::min(silent, agents);
  rlimit nofile{};
  ::getrlimit(RLIMIT_NOFILE, &nofile);
  nofile.rlim_cur = nofile.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &nofile);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const fs::path dir = fs::temp_directory_path() / "recorderd-agent-load";
  fmt::print("agent_load: {} cores, {} peers, one message each every {} s, {} s measured\n",
             std::thread::hardware_concurrency(), agents, interval, seconds);

  // Baseline: JSON-RPC pings on /rpc, the same connections and rate, no core work.
  {
    auto s = start_server(binary, dir / "rpc");
    const long idle_kib = proc_stats(s.pid).rss_kib;
    const double cpu0 = proc_stats(s.pid).cpu_seconds;
    long loaded_kib = 0;
    auto f = run(
        s.port, agents, seconds, interval, [](std::size_t) { return std::string("/rpc"); },
        [](std::size_t) { return std::optional<std::string>{}; },
        [](std::size_t i) { return fmt::format(R"({{"jsonrpc":"2.0","method":"ping","id":{}}})", i); },
        [](std::size_t) { return false; },
        [&](Figures&) {
          loaded_kib = proc_stats(s.pid).rss_kib;
          return false;
        });
    const double cpu = proc_stats(s.pid).cpu_seconds - cpu0;
    print_timeline(f);
    fmt::print("baseline /rpc ping: {} connected, {} answers, latency p50 {:.2f} ms p99 {:.2f} ms max {:.2f} ms; "
               "server RSS {} MiB idle, {} MiB loaded: {:.1f} KiB per connection; server CPU {:.1f} s; {} errors\n",
               f.ready, f.answered, percentile(f.latency_ms, 0.5), percentile(f.latency_ms, 0.99),
               percentile(f.latency_ms, 1.0), idle_kib / 1024, loaded_kib / 1024,
               static_cast<double>(loaded_kib - idle_kib) / static_cast<double>(agents), cpu, f.errors);
    stop_server(s.pid);
  }

  // Agents: start_confirmed, then recording_status at the same rate.
  {
    auto s = start_server(binary, dir / "agents", {fmt::format("limits.stale_seconds={}", stale)});
    std::ifstream token_file(dir / "agents" / "data" / "admin.token");
    std::string token;
    std::getline(token_file, token);
    const long idle_kib = proc_stats(s.pid).rss_kib;
    const double cpu0 = proc_stats(s.pid).cpu_seconds;
    long loaded_kib = 0;
    double cpu = 0;
    Clock::time_point silenced_at{};
    std::map<std::string, Clock::time_point> seen_stale;  // recording id -> first seen stale
    // Which agents fall silent: every k-th (their deadlines spread over one interval, as
    // independent failures are), or with --burst a block whose deadlines fall within
    // silent/agents of an interval (a network partition).
    const std::size_t every = std::max<std::size_t>(1, agents / std::max<std::size_t>(silent, 1));
    const auto is_silent = [&](std::size_t i) { return burst ? i < silent : i % every == 0 && i / every < silent; };
    auto f = run(
        s.port, agents, seconds, interval,
        [](std::size_t i) { return fmt::format("/ws/agent?agent_id=room-{}", i); },
        [](std::size_t i) {
          return std::optional{fmt::format(R"({{"type":"start_confirmed","timestamp":"2026-11-23T09:00:01","data":{{{}}}}})",
                                           meeting(i))};
        },
        [](std::size_t i) {
          return fmt::format(R"({{"type":"recording_status","timestamp":"2026-11-23T09:05:00","data":{{{},)"
                             R"("status":"recording","elapsed":300,"remaining":3300}}}})",
                             meeting(i));
        },
        is_silent,
        [&](Figures& fig) {
          const auto now = Clock::now();
          if (silenced_at == Clock::time_point{}) {
            silenced_at = now;
            loaded_kib = proc_stats(s.pid).rss_kib;
            cpu = proc_stats(s.pid).cpu_seconds - cpu0;
          }
          // Every 100 ms: which recordings does the server hold stale now?
          static Clock::time_point last_poll{};
          if (poll_ms == 0) return now - silenced_at < std::chrono::seconds(stale + 10);
          if (now - last_poll < std::chrono::milliseconds(poll_ms)) return true;
          last_poll = now;
          rapidjson::Document d;
          const std::string body =
              http_get(fmt::format("http://127.0.0.1:{}/api/recordings?state=stale&limit=1000", s.port), token);
          d.Parse(body.c_str(), body.size());
          if (d.IsObject() && d.HasMember("recordings"))
            for (const auto& r : d["recordings"].GetArray()) seen_stale.try_emplace(r["id"].GetString(), now);
          std::size_t flagged = 0;
          for (std::size_t i = 0; i < agents; ++i) flagged += fig.peers[i].silent && seen_stale.contains(fig.peers[i].recording_id);
          return flagged < silent && now - silenced_at < std::chrono::seconds(stale + 15);
        });
    print_timeline(f);
    std::vector<double> late_ms;
    std::size_t flagged = 0;
    for (std::size_t i = 0; i < agents; ++i) {
      if (!f.peers[i].silent) continue;
      auto it = seen_stale.find(f.peers[i].recording_id);
      if (it == seen_stale.end()) continue;
      ++flagged;
      late_ms.push_back(std::chrono::duration<double, std::milli>(it->second - f.peers[i].last_status -
                                                                  std::chrono::seconds(stale))
                            .count());
    }
    const auto decided = stale_decisions(dir / "agents" / "data" / "recorderd.db");
    std::vector<double> decided_late_ms;
    for (std::size_t i = 0; i < agents; ++i) {
      if (!f.peers[i].silent) continue;
      auto it = decided.find(f.peers[i].recording_id);
      if (it == decided.end()) continue;
      decided_late_ms.push_back(std::chrono::duration<double, std::milli>(it->second - f.peers[i].last_status_wall -
                                                                          std::chrono::seconds(stale))
                                    .count());
    }
    std::size_t wrongly = 0;
    for (std::size_t i = 0; i < agents; ++i)
      wrongly += !f.peers[i].silent && (seen_stale.contains(f.peers[i].recording_id) || decided.contains(f.peers[i].recording_id));
    fmt::print("agents: {} connected in {:.1f} s, {} status answers, ack latency p50 {:.2f} ms p99 {:.2f} ms max {:.2f} ms; "
               "server RSS {} MiB idle, {} MiB with the agents: {:.1f} KiB per agent; server CPU {:.1f} s; {} errors\n",
               f.ready, f.connect_seconds, f.answered, percentile(f.latency_ms, 0.5), percentile(f.latency_ms, 0.99),
               percentile(f.latency_ms, 1.0), idle_kib / 1024, loaded_kib / 1024,
               static_cast<double>(loaded_kib - idle_kib) / static_cast<double>(agents), cpu, f.errors);
    fmt::print("stale: {} of {} silent agents decided stale after their {} s deadline by p50 {:.0f} ms p99 {:.0f} ms "
               "max {:.0f} ms (the notices' own times)\n",
               decided_late_ms.size(), silent, stale, percentile(decided_late_ms, 0.5), percentile(decided_late_ms, 0.99),
               percentile(decided_late_ms, 1.0));
    fmt::print("stale: {} of {} silent agents flagged; seen over REST after their {} s deadline by p50 {:.0f} ms p99 {:.0f} ms "
               "max {:.0f} ms (polled every {} ms); {} reporting agents flagged wrongly\n",
               flagged, silent, stale, percentile(late_ms, 0.5), percentile(late_ms, 0.99), percentile(late_ms, 1.0),
               poll_ms, wrongly);
    stop_server(s.pid);
  }
  fs::remove_all(dir);
  curl_global_cleanup();
  return 0;
}
