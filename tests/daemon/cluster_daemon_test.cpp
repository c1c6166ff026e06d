// Two recorderd in one process on one Postgres (the fixture's private server, a database of
// this test's own) and one data directory: the cluster's threads (the keeper's tick and
// sweep, the LISTEN connection, commands and their answers, the webhook and outbox threads
// that only the leader runs) under the sanitizers, ThreadSanitizer among them. The
// three-process test (tests/cluster) covers kill -9, SIGSTOP and a Postgres restart.

#include <chrono>
#include <cstdlib>
#include <random>
#include <thread>

#include "daemon_fixture.hpp"
#include "json_util.hpp"
#include "recorder/testing/test_postgres.hpp"

using namespace recorder;
using namespace recorder::testing;
using namespace std::chrono_literals;

namespace {

std::string fresh_database() {
  const std::string admin = test_postgres_url();
  std::random_device rd;
  const std::string name = "daemon_cluster_" + std::to_string(rd()) + std::to_string(rd());
  REQUIRE(std::system(("psql '" + admin + "' -qc 'CREATE DATABASE " + name + "' >/dev/null").c_str()) == 0);
  return admin.substr(0, admin.rfind('/') + 1) + name;
}

Settings instance(const std::string& url, const std::string& id) {
  return {{"store.backend", "postgres"}, {"store.postgres_url", url}, {"cluster.instance_id", id},
          {"cluster.lease_seconds", "3"}, {"limits.grace_seconds", "30"}};
}

std::string chunk(std::uint64_t i) { return "chunk " + std::to_string(i) + std::string(1000, static_cast<char>('a' + i)); }

void send_acked(WsClient& c, const std::string& id, std::uint64_t i) {
  c.send_text(chunk_json(id, i, base64(chunk(i))));
  auto ack = c.next_containing("chunkAck");
  REQUIRE(ack);
  CHECK(parse_json(*ack)["data"]["index"].GetUint64() == i);
}

template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds within = 10s) {
  const auto until = std::chrono::steady_clock::now() + within;
  while (std::chrono::steady_clock::now() < until) {
    if (pred()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return pred();
}

}  // namespace

TEST_CASE("two instances in one process: a stream handed over on its client's start - a stop through the other",
          "[daemon][cluster]") {
  const std::string url = fresh_database();
  TempDir shared;
  RunningDaemon a(instance(url, "a"), shared.path());
  RunningDaemon b(instance(url, "b"), shared.path());

  auto first = a.connect("/ws/record");
  first->send_text(R"({"event":"start","data":{"recordId":"moved-1","mimeType":"video/webm"}})");
  REQUIRE(first->next_containing("\"started\""));
  send_acked(*first, "moved-1", 0);
  send_acked(*first, "moved-1", 1);
  CHECK(a.get("moved-1").lease.instance == "a");

  // The client comes back through b while its connection to a is still open: a hands over.
  auto second = b.connect("/ws/record");
  second->send_text(R"({"event":"start","data":{"recordId":"moved-1","mimeType":"video/webm"}})");
  auto started = second->next_containing("\"started\"");
  REQUIRE(started);
  auto doc = parse_json(*started);
  CHECK(doc["data"]["resumed"].GetBool());
  CHECK(doc["data"]["nextIndex"].GetUint64() == 2);
  CHECK_FALSE(a.daemon->service().held_here("moved-1"));
  send_acked(*second, "moved-1", 2);
  // The old connection is refused: a writes nothing more of it.
  first->send_text(chunk_json("moved-1", 3, base64(chunk(3))));
  auto refused = first->next_containing("chunkError");
  REQUIRE(refused);
  CHECK_THAT(*refused, Catch::Contains("not held by instance a"));

  // A stop through a, which holds it no more: b stops it, its client is told it is ready.
  auto stopped = a.daemon->service().stop("moved-1");
  INFO((stopped ? "" : stopped.error().message));
  REQUIRE(stopped);
  auto ready = second->next_containing("recordingReady");
  REQUIRE(ready);
  CHECK(parse_json(*ready)["data"]["bytes"].GetUint64() == chunk(0).size() + chunk(1).size() + chunk(2).size());
  const core::Recording done = b.wait_finished("moved-1");
  CHECK(done.state == core::State::ready);
  CHECK(done.stop_reason == core::StopReason::manual);
  CHECK(eventually([&] {
    auto seen = a.daemon->service().get("moved-1");
    return seen && seen->state == core::State::ready;
  }));
}
