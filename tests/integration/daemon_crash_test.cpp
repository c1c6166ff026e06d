// recorderd is SIGKILLed while several clients stream into it; it is started again; each
// client resumes with start on its recordId, learns nextIndex and missingChunks, sends the
// rest and stops; every final file is byte-identical to what was sent.
//
// The second case kills it while short recordings start and stop as fast as they can beside
// the long streams, and also checks the outbox: the log subscriber's lines are the delivered
// notices, and after the restart they are exactly the outbox's notices (none lost, none
// invented).

#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <mutex>
#include <regex>
#include <set>
#include <thread>

#include <rapidjson/document.h>

#include "recorder/adapters/sqlite/sqlite_repository.hpp"

#include "recorder/testing/chunk_content.hpp"
#include "recorder/testing/process.hpp"
#include "recorder/testing/temp_dir.hpp"
#include "recorder/testing/ws_client.hpp"
#include "sqlite_peek.hpp"

using namespace recorder;
using namespace std::chrono_literals;
using testing::wait_until;

namespace {

std::string b64(const std::vector<std::byte>& in) {
  static constexpr char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  const auto at = [&](std::size_t k) { return static_cast<unsigned>(in[k]); };
  for (; i + 2 < in.size(); i += 3) {
    const unsigned n = (at(i) << 16) | (at(i + 1) << 8) | at(i + 2);
    out += {t[(n >> 18) & 63], t[(n >> 12) & 63], t[(n >> 6) & 63], t[n & 63]};
  }
  if (i + 1 == in.size()) {
    const unsigned n = at(i) << 16;
    out += {t[(n >> 18) & 63], t[(n >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    const unsigned n = (at(i) << 16) | (at(i + 1) << 8);
    out += {t[(n >> 18) & 63], t[(n >> 12) & 63], t[(n >> 6) & 63], '='};
  }
  return out;
}

std::size_t size_for(std::uint64_t i) { return 20000 + (i * 7919) % 40000; }

std::string chunk_message(const std::string& id, std::uint64_t i) {
  return R"({"event":"chunk","data":{"recordId":")" + id + R"(","index":)" + std::to_string(i) + R"(,"data":")" +
         b64(testing::chunk_content(id, i, size_for(i))) + R"("}})";
}

// Starts recorderd and returns its pid and the port it logged.
std::pair<pid_t, int> start_daemon(const std::filesystem::path& data, const std::filesystem::path& log) {
  auto started = testing::start_recorderd(RECORDERD, data, log, {"--set", "limits.grace_seconds=60"});
  REQUIRE(started);
  return {started->pid, started->port};
}

rapidjson::Document parse(const std::string& s) {
  rapidjson::Document d;
  d.Parse(s.c_str(), s.size());
  return d;
}

std::string ws_url(int port) { return "ws://127.0.0.1:" + std::to_string(port) + "/ws/record"; }

std::string start_message(const std::string& id) { return R"({"event":"start","data":{"recordId":")" + id + R"("}})"; }
std::string stop_message(const std::string& id) { return R"({"event":"stop","data":{"recordId":")" + id + R"("}})"; }

std::string expected_bytes(const std::string& id, std::uint64_t chunks) {
  std::string out;
  for (std::uint64_t i = 0; i < chunks; ++i) {
    for (std::byte b : testing::chunk_content(id, i, size_for(i))) out.push_back(static_cast<char>(b));
  }
  return out;
}

// A client that streams into `id` until the daemon stops answering; acked is how many of
// its chunks were acknowledged.
void stream_until_gone(int port, const std::string& id, std::atomic<std::uint64_t>& acked, std::atomic<int>& connected) {
  std::string error;
  auto c = testing::WsClient::connect(ws_url(port), error);
  if (!c) return;
  c->send_text(start_message(id));
  if (!c->next_containing("\"started\"")) return;
  ++connected;
  for (std::uint64_t i = 0;; ++i) {
    c->send_text(chunk_message(id, i));
    if (!c->next_containing("chunkAck", 3s)) return;  // the daemon is gone
    acked = i + 1;
  }
}

// After the restart: start on `id` again; it must resume with every acknowledged chunk and
// no gap. Sends `more` chunks, stops, and returns the recordingReady message.
std::optional<std::string> resume_and_stop(int port, const std::string& id, std::uint64_t acked, std::uint64_t more,
                                           std::uint64_t& total) {
  std::string error;
  auto c = testing::WsClient::connect(ws_url(port), error);
  REQUIRE(c);
  c->send_text(start_message(id));
  auto started = c->next_containing("\"started\"");
  REQUIRE(started);
  auto doc = parse(*started);
  CHECK(doc["data"]["resumed"].GetBool());
  const std::uint64_t next = doc["data"]["nextIndex"].GetUint64();
  CHECK(next >= acked);  // every acknowledged chunk survived
  CHECK(doc["data"]["missingChunks"].GetArray().Size() == 0);
  for (std::uint64_t i = next; i < next + more; ++i) {
    c->send_text(chunk_message(id, i));
    REQUIRE(c->next_containing("chunkAck"));
  }
  total = next + more;
  c->send_text(stop_message(id));
  return c->next_containing("recordingReady");
}

// Every notice id the log subscriber wrote.
std::set<std::string> logged_notices(const std::filesystem::path& log) {
  std::ifstream in(log);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::regex id(R"((?:notice_id|alert_id)=(\S+))");
  std::set<std::string> out;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), id); it != std::sregex_iterator(); ++it)
    out.emplace((*it)[1]);
  return out;
}

}  // namespace

TEST_CASE("clients streaming into a SIGKILLed daemon resume after its restart and lose nothing",
          "[integration][crash][daemon]") {
  testing::TempDir dir;
  const auto log = dir.path() / "recorderd.log";
  const int clients = 4;
  auto [pid, port] = start_daemon(dir.path() / "data", log);

  std::vector<std::atomic<std::uint64_t>> acked(clients);
  std::vector<std::thread> threads;
  std::atomic<int> connected{0};
  for (int k = 0; k < clients; ++k) {
    threads.emplace_back([&, k, p = port] {
      stream_until_gone(p, "crash-" + std::to_string(k), acked[static_cast<std::size_t>(k)], connected);
    });
  }
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (connected < clients && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(10ms);
  REQUIRE(connected == clients);
  // Let every client have a few chunks acknowledged; the kill lands wherever they are then.
  const auto streaming_until = std::chrono::steady_clock::now() + 30s;
  const auto all_streaming = [&] {
    return std::ranges::all_of(acked, [](const auto& a) { return a.load() >= 3; });
  };
  while (!all_streaming() && std::chrono::steady_clock::now() < streaming_until) std::this_thread::sleep_for(10ms);
  REQUIRE(all_streaming());
  ::kill(pid, SIGKILL);
  REQUIRE(testing::wait_exit(pid, 10s));
  for (auto& t : threads) t.join();

  auto [pid2, port2] = start_daemon(dir.path() / "data", log);
  CHECK(testing::count_in_file(log, "recovered=" + std::to_string(clients)) == 1);
  for (int k = 0; k < clients; ++k) {
    const std::string id = "crash-" + std::to_string(k);
    INFO(id << " had " << acked[static_cast<std::size_t>(k)] << " chunks acknowledged");
    CHECK(acked[static_cast<std::size_t>(k)] > 0);
    std::uint64_t total = 0;
    auto ready = resume_and_stop(port2, id, acked[static_cast<std::size_t>(k)], 5, total);
    REQUIRE(ready);
    const std::string url = parse(*ready)["data"]["downloadUrl"].GetString();
    auto file = testing::http_get(url);
    REQUIRE(file.status == 200);
    const std::string expected = expected_bytes(id, total);
    CHECK(file.body.size() == expected.size());
    CHECK(file.body == expected);
  }
  ::kill(pid2, SIGTERM);
  auto status = testing::wait_exit(pid2, 20s);
  REQUIRE(status);
  CHECK(WIFEXITED(*status));
  CHECK(WEXITSTATUS(*status) == 0);
}

namespace {

// A short recording started by a churn client: what the client was promised before the kill.
struct Churned {
  std::string id;
  bool started = false;   // "started" was answered: the recording exists durably
  std::uint64_t acked = 0;
  bool ready = false;     // recordingReady was answered: it is finished, with `acked` chunks
};

// Starts a recording, sends two chunks, stops it and waits for recordingReady, again and
// again on new connections (as browser tabs do), until the daemon stops answering.
void churn_until_gone(int port, int k, std::mutex& m, std::vector<Churned>& out, std::atomic<int>& finished) {
  for (int n = 0;; ++n) {
    const std::string id = "churn-" + std::to_string(k) + "-" + std::to_string(n);
    const auto record = [&](auto&& change) {
      std::lock_guard lock(m);
      auto it = std::ranges::find(out, id, &Churned::id);
      if (it == out.end()) it = out.insert(out.end(), Churned{id});
      change(*it);
    };
    record([](Churned&) {});  // before connecting: a churn client is never between recordings at the kill
    std::string error;
    auto c = testing::WsClient::connect(ws_url(port), error, 3s);
    if (!c) return;
    c->send_text(start_message(id));
    if (!c->next_containing("\"started\"", 3s)) return;
    record([](Churned& r) { r.started = true; });
    for (std::uint64_t i = 0; i < 2; ++i) {
      c->send_text(chunk_message(id, i));
      if (!c->next_containing("chunkAck", 3s)) return;
      record([&](Churned& r) { r.acked = i + 1; });
    }
    c->send_text(stop_message(id));
    if (!c->next_containing("recordingReady", 3s)) return;
    record([](Churned& r) { r.ready = true; });
    ++finished;
  }
}

}  // namespace

TEST_CASE("a SIGKILL while recordings start and stop beside live streams loses no recording and no notice",
          "[integration][crash][daemon][outbox]") {
  testing::TempDir dir;
  const auto data = dir.path() / "data";
  const auto db = data / "recorderd.db";
  const auto log = dir.path() / "recorderd.log";
  const int streams = 3;
  const int churners = 3;
  auto [pid, port] = start_daemon(data, log);

  std::vector<std::atomic<std::uint64_t>> acked(streams);
  std::atomic<int> connected{0};
  std::mutex m;
  std::vector<Churned> churned;
  std::atomic<int> finished{0};
  std::vector<std::thread> threads;
  for (int k = 0; k < streams; ++k) {
    threads.emplace_back([&, k, p = port] {
      stream_until_gone(p, "long-" + std::to_string(k), acked[static_cast<std::size_t>(k)], connected);
    });
  }
  for (int k = 0; k < churners; ++k)
    threads.emplace_back([&, k, p = port] { churn_until_gone(p, k, m, churned, finished); });
  // The kill lands once the streams have chunks acknowledged and 30 short recordings have
  // gone from start to ready, wherever the churn clients are then.
  REQUIRE(wait_until([&] {
    return finished >= 30 && std::ranges::all_of(acked, [](const auto& a) { return a.load() >= 3; });
  }, 60s));
  ::kill(pid, SIGKILL);
  REQUIRE(testing::wait_exit(pid, 10s));
  for (auto& t : threads) t.join();
  // What the log had not been handed yet (or had, without the delivery being recorded).
  const auto undelivered_at_kill = testing::sql_strings(db, testing::undelivered_to("log"));

  auto [pid2, port2] = start_daemon(data, log);
  // Every stream resumes where its acknowledged chunks end.
  std::map<std::string, std::uint64_t> chunks_sent;
  for (int k = 0; k < streams; ++k) {
    const std::string id = "long-" + std::to_string(k);
    INFO(id);
    std::uint64_t total = 0;
    REQUIRE(resume_and_stop(port2, id, acked[static_cast<std::size_t>(k)], 2, total));
    chunks_sent[id] = total;
  }
  // Every short recording caught mid-way: started again it resumes with its acknowledged
  // chunks (or says it has ended, when its stop was saved), and a stop finishes it.
  std::size_t in_flight = 0;
  for (const auto& r : churned) {
    if (r.ready) continue;
    ++in_flight;
    INFO(r.id << " started=" << r.started << " acked=" << r.acked);
    std::string error;
    auto c = testing::WsClient::connect(ws_url(port2), error);
    REQUIRE(c);
    c->send_text(start_message(r.id));
    auto answer = c->next_containing("\"event\"");
    REQUIRE(answer);
    auto doc = parse(*answer);
    const std::string event = doc["event"].GetString();
    if (event == "started") {
      CHECK(doc["data"]["nextIndex"].GetUint64() >= r.acked);
      CHECK(doc["data"]["missingChunks"].GetArray().Size() == 0);
    } else {
      CHECK(event == "error");
      // Its stop was saved before the kill: it is finishing or finished.
      const std::string message = doc["data"]["message"].GetString();
      CHECK_THAT(message, Catch::Contains("has already ended") || Catch::Contains("can no longer be resumed"));
      CHECK(r.started);
    }
    c->send_text(stop_message(r.id));
    CHECK(c->next_containing("recordingReady"));
  }
  INFO(churned.size() << " short recordings, " << in_flight << " caught by the kill");
  CHECK(in_flight >= 1);

  // Once nothing is live and the log has had every notice, stop the daemon cleanly.
  CHECK(wait_until([&] { return testing::sql_strings(db, "SELECT id FROM recordings WHERE state NOT IN "
                                                         "('ready','failed','deleted')").empty(); }, 20s));
  CHECK(wait_until([&] { return testing::sql_strings(db, testing::undelivered_to("log")).empty(); }, 20s));
  ::kill(pid2, SIGTERM);
  auto status = testing::wait_exit(pid2, 20s);
  REQUIRE(status);
  CHECK(WIFEXITED(*status));
  CHECK(WEXITSTATUS(*status) == 0);

  // The outbox: every notice saved was delivered to the log, and the log delivered nothing
  // that was not saved (at least once: a notice may appear twice, never zero times).
  const auto saved = testing::sql_strings(db, "SELECT id FROM outbox");
  const auto delivered_ids = logged_notices(log);
  INFO(saved.size() << " notices saved, " << undelivered_at_kill.size() << " undelivered at the kill");
  CHECK(saved.size() >= 60);
  for (const auto& id : undelivered_at_kill) CHECK(delivered_ids.contains(id));
  std::vector<std::string> lost, invented;
  std::ranges::set_difference(saved, delivered_ids, std::back_inserter(lost));
  std::ranges::set_difference(delivered_ids, saved, std::back_inserter(invented));
  CHECK(lost.empty());
  CHECK(invented.empty());

  // Every recording is finished with exactly the chunks it was sent, in order, on disk.
  auto repo = adapters::sqlite::SqliteRepository::open(db);
  REQUIRE(repo);
  for (const auto& r : churned) chunks_sent.emplace(r.id, r.acked);
  for (const auto& [id, at_least] : chunks_sent) {
    INFO(id);
    auto found = (*repo)->find(id);
    REQUIRE(found);
    REQUIRE(*found);  // every id the test used was started, at the latest after the restart
    const core::Recording& rec = **found;
    CHECK(rec.state == core::State::ready);
    const std::uint64_t chunks = rec.ledger.chunk_count();
    CHECK(chunks >= at_least);
    if (chunks == 0) continue;
    REQUIRE_FALSE(rec.files.empty());
    std::ifstream in(data / rec.files.front().path, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK(bytes.size() == expected_bytes(id, chunks).size());
    CHECK(bytes == expected_bytes(id, chunks));
  }
}
