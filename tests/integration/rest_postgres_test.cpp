// The REST API on the Postgres store, against the recorderd binary: tokens live in the
// database (a second instance's data directory gets no new admin token), lists page by
// cursor, and a recording is shown, deleted and listed the same way as on SQLite.

#include <catch2/catch.hpp>

#include <csignal>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <pqxx/pqxx>
#include <rapidjson/document.h>

#include "recorder/testing/process.hpp"
#include "recorder/testing/temp_dir.hpp"
#include "recorder/testing/test_postgres.hpp"
#include "recorder/testing/ws_client.hpp"

using namespace recorder;
using namespace std::chrono_literals;

namespace {

struct Daemon {
  Daemon(const std::filesystem::path& data, const std::string& db_url) {
    auto started = testing::start_recorderd(RECORDERD, data, log.path() / "recorderd.log",
                                            {"--set", "store.backend=postgres", "--set", "store.postgres_url=" + db_url});
    REQUIRE(started);
    pid = started->pid;
    port = started->port;
  }
  ~Daemon() {
    ::kill(pid, SIGTERM);
    (void)testing::wait_exit(pid, std::chrono::seconds(20));
  }
  testing::HttpAnswer call(const std::string& method, const std::string& path, const std::string& token,
                           const std::string& body = "") const {
    auto a = testing::http_request(method, "http://127.0.0.1:" + std::to_string(port) + path,
                                   {"Authorization: Bearer " + token}, body);
    INFO(method << " " << path << " -> " << a.status << " " << a.body.substr(0, 300));
    REQUIRE(a.error.empty());
    return a;
  }
  void record(const std::string& id) const {
    std::string error;
    auto c = testing::WsClient::connect("ws://127.0.0.1:" + std::to_string(port) + "/ws/record", error);
    INFO(error);
    REQUIRE(c);
    c->send_text(R"({"event":"start","data":{"recordId":")" + id + R"("}})");
    REQUIRE(c->next_containing("\"started\""));
    c->send_binary("bytes of " + id);
    REQUIRE(c->next_containing("chunkAck"));
    c->send_text(R"({"event":"stop","data":{"recordId":")" + id + R"("}})");
    REQUIRE(c->next_containing("recordingReady"));
  }
  testing::TempDir log;
  pid_t pid = 0;
  int port = 0;
};

std::string token_in(const std::filesystem::path& data) {
  std::ifstream in(data / "admin.token");
  std::string token;
  std::getline(in, token);
  REQUIRE(token.size() == 60);
  return token;
}

rapidjson::Document json(const std::string& text) {
  rapidjson::Document d;
  d.Parse(text.c_str(), text.size());
  REQUIRE_FALSE(d.HasParseError());
  return d;
}

}  // namespace

TEST_CASE("REST on Postgres: tokens in the database - cursor pages - show and delete", "[integration][postgres][rest]") {
  const std::string admin_url = testing::test_postgres_url();
  std::random_device rd;
  const std::string name = "rest_" + std::to_string(rd()) + std::to_string(rd());
  {
    pqxx::connection c(admin_url);
    pqxx::nontransaction(c).exec("CREATE DATABASE " + name);
  }
  const std::string db_url = admin_url.substr(0, admin_url.rfind('/') + 1) + name;

  testing::TempDir first_dir;
  std::string admin;
  std::string viewer;
  {
    Daemon d(first_dir.path(), db_url);
    admin = token_in(first_dir.path());
    auto made = d.call("POST", "/api/tokens", admin, R"({"name":"grafana","role":"viewer"})");
    REQUIRE(made.status == 201);
    viewer = json(made.body)["token"].GetString();
    for (int i = 0; i < 5; ++i) d.record("pg-" + std::to_string(i));

    std::vector<std::string> seen;
    std::string cursor;
    for (int page = 0; page < 5; ++page) {
      auto a = d.call("GET", "/api/recordings?limit=2" + (cursor.empty() ? "" : "&cursor=" + cursor), viewer);
      REQUIRE(a.status == 200);
      auto p = json(a.body);
      for (const auto& r : p["recordings"].GetArray()) seen.emplace_back(r["id"].GetString());
      if (p["next_cursor"].IsNull()) break;
      cursor = p["next_cursor"].GetString();
    }
    CHECK(seen == std::vector<std::string>{"pg-4", "pg-3", "pg-2", "pg-1", "pg-0"});
    auto shown = json(d.call("GET", "/api/recordings/pg-2", viewer).body);
    CHECK(std::string(shown["state"].GetString()) == "ready");
    CHECK(testing::http_request("GET", shown["signed_url"].GetString()).body == "bytes of pg-2");
    CHECK(d.call("DELETE", "/api/recordings/pg-2", viewer).status == 403);
    CHECK(d.call("DELETE", "/api/recordings/pg-2", admin).status == 200);
    auto events = json(d.call("GET", "/api/recordings/pg-2/events", viewer).body);
    CHECK(std::string(events["events"][events["events"].Size() - 1]["to"].GetString()) == "deleted");
  }
  // A second instance on the same database with its own data directory: the tokens are
  // there, so no new admin token is made.
  testing::TempDir second_dir;
  Daemon again(second_dir.path(), db_url);
  CHECK_FALSE(std::filesystem::exists(second_dir.path() / "admin.token"));
  CHECK(again.call("GET", "/api/tokens", admin).status == 200);
  CHECK(again.call("GET", "/api/recordings?state=deleted", viewer).body.find("pg-2") != std::string::npos);
  auto listed = json(again.call("GET", "/api/tokens", admin).body);
  CHECK(listed["tokens"].Size() == 2);
}
