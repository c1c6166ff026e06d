// /metrics against the daemon in-process: streamed, resumed and abandoned recordings show
// in the counters, live ones in the gauges, and the text is valid exposition by
// prometheus_client's parser (tests/support/promparse.py).

#include <catch2/catch.hpp>

#include <cstdio>
#include <map>
#include <string>

#include "daemon_fixture.hpp"
#include "json_util.hpp"

using namespace recorder;
using namespace recorder::testing;
using namespace std::chrono_literals;

namespace {

// Every sample, as "name{labels}" -> value, parsed by prometheus_client.
std::map<std::string, double> scrape(const RunningDaemon& d, const std::string& token) {
  auto a = http_request("GET", "http://127.0.0.1:" + std::to_string(d.daemon->port()) + "/metrics",
                        {"Authorization: Bearer " + token});
  REQUIRE(a.status == 200);
  CHECK(a.header("content-type").starts_with("text/plain; version=0.0.4"));
  const auto file = d.dir.path() / "metrics.txt";
  {
    std::ofstream out(file);
    out << a.body;
  }
  // Debian's python3, where python3-prometheus-client is installed (not a pyenv one on PATH).
  const std::string command = "/usr/bin/python3 " RECORDER_SOURCE_DIR "/tests/support/promparse.py < '" + file.string() + "' 2>&1";
  FILE* p = ::popen(command.c_str(), "r");
  REQUIRE(p);
  std::string text;
  char buf[4096];
  while (const auto n = std::fread(buf, 1, sizeof buf, p)) text.append(buf, n);
  const int rc = ::pclose(p);
  INFO(text.substr(0, 2000));
  REQUIRE(rc == 0);
  std::map<std::string, double> samples;
  std::size_t at = 0;
  while (at < text.size()) {
    const auto end = text.find('\n', at);
    const std::string line = text.substr(at, end - at);
    at = end == std::string::npos ? text.size() : end + 1;
    const auto space = line.rfind(' ');
    if (space == std::string::npos) continue;
    samples[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return samples;
}

double value(const std::map<std::string, double>& m, const std::string& key) {
  auto it = m.find(key);
  INFO("sample " << key);
  REQUIRE(it != m.end());
  return it->second;
}

}  // namespace

TEST_CASE("metrics count chunks - bytes - resumes - grace finalizations and finished recordings", "[daemon][metrics]") {
  RunningDaemon d;
  const auto token = read_file(d.dir.path() / "admin.token").substr(0, 60);
  CHECK(http_request("GET", "http://127.0.0.1:" + std::to_string(d.daemon->port()) + "/metrics").status == 401);

  // One finished recording of 3 chunks.
  std::uint64_t sent = 0;
  {
    auto c = d.connect("/ws/record");
    c->send_text(R"({"event":"start","data":{"recordId":"metered-recording"}})");
    REQUIRE(c->next_containing("\"started\""));
    for (int i = 0; i < 3; ++i) {
      const std::string chunk(1000 + static_cast<std::size_t>(i), 'x');
      sent += chunk.size();
      c->send_text(chunk_json("metered-recording", static_cast<std::uint64_t>(i), base64(chunk)));
      REQUIRE(c->next_containing("chunkAck"));
    }
    c->send_text(event_json("stop", "metered-recording"));
    REQUIRE(c->next_containing("recordingReady"));
  }
  // One that drops, comes back within grace, and drops for good.
  {
    auto c = d.connect("/ws/record");
    c->send_text(R"({"event":"start","data":{"recordId":"dropping"}})");
    REQUIRE(c->next_containing("\"started\""));
  }
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (d.get("dropping").state != core::State::interrupted && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(10ms);
  {
    auto c = d.connect("/ws/record");
    c->send_text(R"({"event":"start","data":{"recordId":"dropping"}})");
    auto resumed = c->next_containing("\"started\"");
    REQUIRE(resumed);
    CHECK(parse_json(*resumed)["data"]["resumed"].GetBool());
  }
  d.wait_finished("dropping");
  // And one live while we look.
  auto live = d.connect("/ws/record");
  live->send_text(R"({"event":"start","data":{"recordId":"still-going"}})");
  REQUIRE(live->next_containing("\"started\""));

  const auto m = scrape(d, token);
  CHECK(value(m, R"(recorderd_chunks_received_total{kind="stream"})") == 3);
  CHECK(value(m, R"(recorderd_received_bytes_total{kind="stream"})") == static_cast<double>(sent));
  CHECK(value(m, R"(recorderd_chunk_store_seconds_count{})") == 3);
  CHECK(value(m, R"(recorderd_chunk_store_seconds_bucket{le="+Inf"})") == 3);
  CHECK(value(m, R"(recorderd_recordings_finished_total{kind="stream",outcome="completed",stop_reason="manual"})") == 1);
  CHECK(value(m, R"(recorderd_stream_resumes_total{})") == 1);
  CHECK(value(m, R"(recorderd_stream_grace_finalizations_total{})") == 1);
  CHECK(value(m, R"(recorderd_recordings_active{kind="stream",state="recording"})") == 1);
  CHECK(value(m, R"(recorderd_recordings_active{kind="capture",state="recording"})") == 0);
  CHECK(value(m, R"(recorderd_websocket_connections{dialect="/ws/record"})") == 1);
  CHECK(value(m, R"(recorderd_websocket_connections{dialect="/rpc"})") == 0);
  CHECK(value(m, R"(recorderd_connections_open{})") >= 2);  // the live stream and this scrape
  CHECK(value(m, R"(recorderd_storage_free_bytes{})") > 0);
  CHECK(value(m, R"(recorderd_storage_level{})") == 0);
  CHECK(value(m, R"(recorderd_store_save_errors_total{})") == 0);
  CHECK(m.contains(R"(recorderd_outbox_pending_notices{})"));
  CHECK(m.contains(R"(recorderd_finalize_duration_seconds_count{})"));
  CHECK(m.contains(R"(recorderd_conversion_duration_seconds_count{})"));
  for (const auto& [sample, v] : m) {
    INFO(sample);
    CHECK(sample.starts_with("recorderd_"));
    CHECK(sample.find("metered-recording") == std::string::npos);  // no label carries a recording id
    CHECK(sample.find("still-going") == std::string::npos);
  }
}
