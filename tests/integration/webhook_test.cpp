// Outgoing webhooks against a real receiver: tests/webhooks/receiver.mjs verifies every
// request with the Standard Webhooks reference library (npm "standardwebhooks"). recorderd
// runs as a process, is SIGKILLed while a delivery is in flight, and started again.

#include <catch2/catch.hpp>

#include <signal.h>

#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <set>
#include <thread>

#include <rapidjson/document.h>

#include "recorder/testing/process.hpp"
#include "recorder/testing/temp_dir.hpp"
#include "recorder/testing/ws_client.hpp"

using namespace recorder;
using namespace std::chrono_literals;
using testing::wait_until;

namespace {

const std::string kSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";      // the receiver verifies with this
const std::string kBoard = "Conseil d'administration — bilan de l'été, budget et prévisions 2027";  // a subject that needs RFC 2047
const std::string kNewSecret = "whsec_bmV3c2VjcmV0bmV3c2VjcmV0bmV3c2Vj";  // being rotated in

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Each line of a JSON-lines file, parsed (a line still being written is skipped).
std::vector<rapidjson::Document> read_jsonl(const std::filesystem::path& file) {
  std::vector<rapidjson::Document> out;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    rapidjson::Document d;
    d.Parse(line.c_str(), line.size());
    if (!d.HasParseError()) out.push_back(std::move(d));
  }
  return out;
}

// A running receiver: its port, and what it logged.
struct Receiver {
  pid_t pid = 0;
  int port = 0;
  std::filesystem::path log;

  static Receiver start(const std::filesystem::path& dir, const std::string& name, const std::string& secret = kSecret) {
    Receiver r;
    r.log = dir / (name + ".jsonl");
    const auto port_file = dir / (name + ".port");
    r.pid = testing::spawn({NODE, RECORDER_SOURCE_DIR "/tests/webhooks/receiver.mjs", secret, r.log.string(),
                            port_file.string()},
                           dir / (name + ".out"));
    REQUIRE(wait_until([&] { return std::filesystem::exists(port_file); }, 20s));
    r.port = std::stoi(slurp(port_file));
    return r;
  }
  ~Receiver() {
    if (pid > 0) ::kill(pid, SIGKILL);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port) + "/hook"; }
  void answer(int status, int delay_ms = 0) const {
    auto set = testing::http_get("http://127.0.0.1:" + std::to_string(port) + "/control?status=" +
                                 std::to_string(status) + "&delay_ms=" + std::to_string(delay_ms));
    REQUIRE(set.status == 200);
  }
  // Every line it logged, parsed.
  std::vector<rapidjson::Document> lines() const { return read_jsonl(log); }
  std::size_t count(const std::function<bool(const rapidjson::Document&)>& which) const {
    std::size_t n = 0;
    for (const auto& d : lines()) n += which(d) ? 1u : 0u;
    return n;
  }
};

bool is_answer(const rapidjson::Document& d, int status) {
  return std::string_view(d["kind"].GetString()) == "answer" && d["answered"].GetInt() == status;
}

// One short stream on /ws/record: start, three chunks, stop, until it is ready.
void record(int port, const std::string& id) {
  std::string error;
  auto c = testing::WsClient::connect("ws://127.0.0.1:" + std::to_string(port) + "/ws/record", error);
  REQUIRE(c);
  c->send_text(R"({"event":"start","data":{"recordId":")" + id + R"("}})");
  REQUIRE(c->next_containing("\"started\""));
  for (int i = 0; i < 3; ++i) {
    c->send_text(R"({"event":"chunk","data":{"recordId":")" + id + R"(","index":)" + std::to_string(i) +
                 R"(,"data":"aGVsbG8gd2ViaG9va3M="}})");
    REQUIRE(c->next_containing("chunkAck"));
  }
  c->send_text(R"({"event":"stop","data":{"recordId":")" + id + R"("}})");
  REQUIRE(c->next_containing("recordingReady"));
}

std::filesystem::path write_config(const std::filesystem::path& dir, const std::string& body) {
  const auto path = dir / "recorderd.toml";
  std::ofstream(path) << body;
  return path;
}

std::string admin_token(const std::filesystem::path& data) {
  std::string t = slurp(data / "admin.token");
  while (!t.empty() && t.back() == '\n') t.pop_back();
  return t;
}

}  // namespace

TEST_CASE("webhooks reach a receiver that fails for a while - each event once after dedup - in order - "
          "across a SIGKILL mid-delivery",
          "[integration][webhook][crash]") {
  testing::TempDir dir;
  Receiver receiver = Receiver::start(dir.path(), "receiver");
  receiver.answer(503);
  // Short retries that never run out in this test; two secrets, as during a rotation.
  const auto config = write_config(dir.path(), "[delivery]\nretry_seconds = \"1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1\"\n"
                                               "[[webhooks]]\nname = \"ops\"\nurl = \"" + receiver.url() +
                                               "\"\nsecrets = [\"" + kNewSecret + "\", \"" + kSecret +
                                               "\"]\nevents = [\"recording.*\"]\n");
  const auto data = dir.path() / "data";
  const auto log = dir.path() / "recorderd.log";
  auto first = testing::start_recorderd(RECORDERD, data, log, {"--config", config.string()});
  REQUIRE(first);

  const std::size_t recordings = 4;
  for (std::size_t k = 0; k < recordings; ++k) record(first->port, "hook-" + std::to_string(k));
  // It keeps trying while the receiver refuses.
  REQUIRE(wait_until([&] { return receiver.count([](const auto& d) { return is_answer(d, 503); }) >= 3; }, 20s));
  CHECK(receiver.count([](const auto& d) { return is_answer(d, 200); }) == 0);

  // Now the receiver takes its time, and recorderd dies while a request is in flight.
  const std::size_t arrivals = receiver.count([](const auto& d) { return std::string_view(d["kind"].GetString()) == "arrival"; });
  receiver.answer(200, 1500);
  REQUIRE(wait_until([&] {
    return receiver.count([](const auto& d) { return std::string_view(d["kind"].GetString()) == "arrival"; }) > arrivals;
  }, 20s));
  std::string in_flight;  // the notice whose request was under way at the kill
  for (const auto& d : receiver.lines())
    if (std::string_view(d["kind"].GetString()) == "arrival") in_flight = d["id"].GetString();
  ::kill(first->pid, SIGKILL);
  const auto killed_at = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch()).count();
  REQUIRE(testing::wait_exit(first->pid, 10s));

  receiver.answer(200);
  auto second = testing::start_recorderd(RECORDERD, data, log, {"--config", config.string()});
  REQUIRE(second);
  const std::size_t expected = recordings * 3;  // started, stopped, ready
  const auto accepted_ids = [&] {
    std::set<std::string> ids;
    for (const auto& d : receiver.lines())
      if (is_answer(d, 200)) ids.insert(d["id"].GetString());
    return ids;
  };
  REQUIRE(wait_until([&] { return accepted_ids().size() >= expected; }, 30s));

  // Every request was signed so that the reference library accepts it.
  CHECK(receiver.count([](const auto& d) { return std::string_view(d["kind"].GetString()) == "answer" &&
                                                  !d["verified"].GetBool(); }) == 0);
  // Each event once after deduplication by webhook-id, in order per recording.
  std::map<std::string, std::vector<std::string>> per_recording;
  std::set<std::string> seen;
  std::string ready_url;
  for (const auto& d : receiver.lines()) {
    if (!is_answer(d, 200) || !seen.insert(d["id"].GetString()).second) continue;
    CHECK(std::string_view(d["content_type"].GetString()) == "application/json");
    // Both signatures are sent while a secret is rotated.
    CHECK(std::string_view(d["signature"].GetString()).find(' ') != std::string_view::npos);
    const std::string type = d["type"].GetString();
    const std::string id = d["data"]["recording_id"].GetString();
    per_recording[id].push_back(type);
    if (type == "recording.ready") ready_url = d["data"]["signed_url"].GetString();
  }
  CHECK(seen.size() == expected);
  // The request in flight at the kill never got its answer to recorderd: the restarted
  // daemon sent the same notice again (at least once), and it was accepted then.
  CHECK(seen.contains(in_flight));
  CHECK(receiver.count([&](const auto& d) {
    return is_answer(d, 200) && d["id"].GetString() == in_flight && d["at"].GetInt64() > killed_at;
  }) == 1);
  REQUIRE(per_recording.size() == recordings);
  for (const auto& [id, types] : per_recording) {
    INFO(id);
    CHECK(types == std::vector<std::string>{"recording.started", "recording.stopped", "recording.ready"});
  }
  // The ready event's signed URL opens the file.
  REQUIRE_FALSE(ready_url.empty());
  auto file = testing::http_get(ready_url);
  CHECK(file.status == 200);
  CHECK(file.body == "hello webhookshello webhookshello webhooks");

  // The endpoint's health, as an admin sees it.
  auto health = testing::http_request("GET", "http://127.0.0.1:" + std::to_string(second->port) + "/api/webhooks",
                                      {"Authorization: Bearer " + admin_token(data)});
  REQUIRE(health.status == 200);
  rapidjson::Document h;
  h.Parse(health.body.c_str());
  REQUIRE(h["webhooks"].Size() == 1);
  CHECK(std::string_view(h["webhooks"][0]["name"].GetString()) == "ops");
  CHECK(h["webhooks"][0]["enabled"].GetBool());
  CHECK(wait_until([&] {
    auto again = testing::http_request("GET", "http://127.0.0.1:" + std::to_string(second->port) + "/api/webhooks",
                                       {"Authorization: Bearer " + admin_token(data)});
    rapidjson::Document d;
    d.Parse(again.body.c_str());
    return d["webhooks"][0]["pending"].IsUint64() && d["webhooks"][0]["pending"].GetUint64() == 0;
  }, 10s));
  ::kill(second->pid, SIGTERM);
  CHECK(testing::wait_exit(second->pid, 20s) == 0);
}

TEST_CASE("a slow endpoint and a gone endpoint do not hold up a healthy one", "[integration][webhook]") {
  testing::TempDir dir;
  Receiver healthy = Receiver::start(dir.path(), "healthy");
  Receiver slow = Receiver::start(dir.path(), "slow");
  Receiver gone = Receiver::start(dir.path(), "gone");
  slow.answer(200, 10000);  // longer than the 2 s timeout: every attempt times out
  gone.answer(410);
  const auto config = write_config(
      dir.path(), "[delivery]\nretry_seconds = \"1,1,1,1,1,1,1,1,1,1\"\ntimeout_seconds = 2\n"
                  "[[webhooks]]\nname = \"slow\"\nurl = \"" + slow.url() + "\"\nsecret = \"" + kSecret + "\"\n"
                  "[[webhooks]]\nname = \"gone\"\nurl = \"" + gone.url() + "\"\nsecret = \"" + kSecret + "\"\n"
                  "[[webhooks]]\nname = \"healthy\"\nurl = \"" + healthy.url() + "\"\nsecret = \"" + kSecret + "\"\n");
  const auto data = dir.path() / "data";
  const auto log = dir.path() / "recorderd.log";
  auto d = testing::start_recorderd(RECORDERD, data, log, {"--config", config.string()});
  REQUIRE(d);
  record(d->port, "busy");
  REQUIRE(wait_until([&] { return healthy.count([](const auto& l) { return is_answer(l, 200); }) >= 3; }, 10s));
  CHECK(gone.count([](const auto& l) { return is_answer(l, 410); }) == 1);  // asked once, then never again

  // The slow endpoint's first attempt times out (2 s); then its health says so.
  rapidjson::Document h;
  const auto slow_failed = [&] {
    auto health = testing::http_request("GET", "http://127.0.0.1:" + std::to_string(d->port) + "/api/webhooks",
                                        {"Authorization: Bearer " + admin_token(data)});
    if (health.status != 200) return false;
    h.Parse(health.body.c_str());
    return !h.HasParseError() && h["webhooks"].Size() == 3 && h["webhooks"][0]["failed_attempts"].GetUint64() >= 1;
  };
  REQUIRE(wait_until(slow_failed, 10s));
  const auto& s = h["webhooks"][0];
  const auto& g = h["webhooks"][1];
  CHECK(std::string_view(s["name"].GetString()) == "slow");
  CHECK(s["enabled"].GetBool());
  CHECK(s["delivered"].GetUint64() == 0);  // every attempt outlasts the timeout (its late answers count for nothing)
  REQUIRE(s["last_error"].IsString());
  CHECK(std::string_view(s["last_error"].GetString()).find("imed out") != std::string_view::npos);
  CHECK(s["pending"].GetUint64() >= 3);
  CHECK_FALSE(g["enabled"].GetBool());
  REQUIRE(g["disabled_reason"].IsString());
  CHECK(std::string_view(g["disabled_reason"].GetString()).starts_with("it answered 410 Gone"));
  // The healthy endpoint was told about the 410 as an alert.
  REQUIRE(wait_until([&] {
    return healthy.count([](const auto& l) {
      return is_answer(l, 200) && std::string_view(l["type"].GetString()) == "alert.critical" &&
             std::string_view(l["data"]["message"].GetString()).find("webhook gone") != std::string_view::npos;
    }) == 1;
  }, 10s));
  CHECK(testing::count_in_file(log, "answered 410 Gone") >= 1);
  // And the metrics say the same.
  auto metrics = testing::http_request("GET", "http://127.0.0.1:" + std::to_string(d->port) + "/metrics",
                                       {"Authorization: Bearer " + admin_token(data)});
  REQUIRE(metrics.status == 200);
  CHECK(metrics.body.find("recorderd_webhook_enabled{endpoint=\"gone\"} 0") != std::string::npos);
  CHECK(metrics.body.find("recorderd_webhook_enabled{endpoint=\"healthy\"} 1") != std::string::npos);
  // Every notice the healthy receiver accepted is counted (storage alerts may add to them).
  const std::regex delivered(R"(recorderd_webhook_deliveries_total\{endpoint="healthy"\} (\d+))");
  std::smatch m;
  REQUIRE(std::regex_search(metrics.body, m, delivered));
  CHECK(std::stoul(m[1]) == healthy.count([](const auto& l) { return is_answer(l, 200); }));
  CHECK(metrics.body.find("recorderd_webhook_failed_attempts_total{endpoint=\"slow\"}") != std::string::npos);
  ::kill(d->pid, SIGTERM);
  CHECK(testing::wait_exit(d->pid, 20s) == 0);
}

namespace {

// The SMTP sink (tests/email/smtp_sink.py, Debian's aiosmtpd): every message it took.
struct SmtpSink {
  pid_t pid = 0;
  int port = 0;
  std::filesystem::path log;

  static SmtpSink start(const std::filesystem::path& dir) {
    SmtpSink s;
    s.log = dir / "mail.jsonl";
    const auto port_file = dir / "smtp.port";
    s.pid = testing::spawn({"/usr/bin/python3", RECORDER_SOURCE_DIR "/tests/email/smtp_sink.py", s.log.string(),
                            port_file.string()},
                           dir / "smtp.out");
    REQUIRE(wait_until([&] { return std::filesystem::exists(port_file); }, 20s));
    s.port = std::stoi(slurp(port_file));
    return s;
  }
  ~SmtpSink() {
    if (pid > 0) ::kill(pid, SIGKILL);
  }
  std::vector<rapidjson::Document> messages() const { return read_jsonl(log); }
};

// One meeting reported by a seed 000 agent over /ws/agent, ended as `premature` says; its
// recording id.
std::string meeting(int port, const std::string& agent, const std::string& subject, bool premature) {
  std::string error;
  auto ws = testing::WsClient::connect("ws://127.0.0.1:" + std::to_string(port) + "/ws/agent?agent_id=" + agent, error);
  REQUIRE(ws);
  const std::string fields = R"("subject":")" + subject +
                             R"(","organizer":"alice@example.org","start_time":"2026-11-23T15:00:00Z")";
  std::string id;
  const auto say = [&](const std::string& type, const std::string& more) {
    ws->send_text(R"({"type":")" + type + R"(","timestamp":"2026-11-23T15:05:10Z","data":{)" + fields + more + "}}");
    auto ack = ws->next_containing(R"("for":")" + type + "\"");
    REQUIRE(ack);
    rapidjson::Document d;
    d.Parse(ack->c_str());
    if (d.HasMember("data") && d["data"].HasMember("recording_id")) id = d["data"]["recording_id"].GetString();
  };
  say("start_confirmed", "");
  if (premature)
    say("recording_stopped_premature",
        R"(,"duration_actual":600,"duration_expected":3600,"reason":"User stopped recording manually or error occurred")");
  else
    say("stop_confirmed", R"(,"duration_actual":3605,"duration_expected":3600,"status":"success")");
  return id;
}

std::string header(const std::string& content, const std::string& name) {
  const std::string message = "\r\n" + content;
  const auto at = message.find("\r\n" + name + ": ");
  if (at == std::string::npos) return "";
  const auto start = at + name.size() + 4;
  return message.substr(start, message.find("\r\n", start) - start);
}

}  // namespace

namespace {
std::pair<int, rapidjson::Document> send_hook(const std::filesystem::path& dir, int port, const std::string& id,
                                              const std::string& body, const std::vector<std::string>& flags);
}  // namespace

TEST_CASE("alerts reach Slack and e-mail - the ready e-mail reaches the organizer and the notify list - a failed "
          "recording reaches the admins",
          "[integration][alerts]") {
  testing::TempDir dir;
  Receiver slack = Receiver::start(dir.path(), "slack", "none");
  SmtpSink smtp = SmtpSink::start(dir.path());
  const auto config = write_config(
      dir.path(), "[alerts]\nchannels = \"slack,email\"\nslack_webhook_url = \"" + slack.url() +
                      "\"\nadmin_emails = \"ops@example.org, oncall@example.org\"\n"
                      "email_events = \"alert.*,recording.ready,recording.failed\"\n"
                      "[smtp]\nurl = \"smtp://127.0.0.1:" + std::to_string(smtp.port) + "\"\nfrom = \"recorder@example.org\"\n");
  const auto data = dir.path() / "data";
  const auto log = dir.path() / "recorderd.log";
  auto d = testing::start_recorderd(RECORDERD, data, log,
                                    {"--config", config.string(), "--set", "hooks.inbound_secret=" + kSecret});
  REQUIRE(d);
  meeting(d->port, "room-7", "Quarterly review", true);                    // a premature stop: an alert, then ready
  const std::string weekly = meeting(d->port, "room-8", "Weekly sync", false);  // a normal end: ready
  {
    // Started over REST with a notify list (seed 004): they are mailed too when it is ready.
    std::string error;
    auto ws = testing::WsClient::connect("ws://127.0.0.1:" + std::to_string(d->port) + "/ws/agent?agent_id=room-9", error);
    REQUIRE(ws);
    auto created = testing::http_request(
        "POST", "http://127.0.0.1:" + std::to_string(d->port) + "/api/recordings",
        {"Authorization: Bearer " + admin_token(data), "Content-Type: application/json"},
        R"({"kind":"agent","agent_id":"room-9","subject":")" + kBoard + R"(","organizer":"alice@example.org",)"
        R"("start_time":"2026-11-23T16:00:00Z","notify":["bob@example.org","carol@example.org","alice@example.org"]})");
    INFO(created.body);
    REQUIRE(created.status == 201);
    CHECK(created.body.find(R"("notify":["bob@example.org")") != std::string::npos);
    REQUIRE(ws->next_containing("start_recording"));
    const std::string fields =
        R"("subject":")" + kBoard + R"(","organizer":"alice@example.org","start_time":"2026-11-23T16:00:00Z")";
    ws->send_text(R"({"type":"start_confirmed","timestamp":"2026-11-23T16:00:01Z","data":{)" + fields + "}}");
    REQUIRE(ws->next_containing(R"("for":"start_confirmed")"));
    ws->send_text(R"({"type":"stop_confirmed","timestamp":"2026-11-23T17:00:01Z","data":{)" + fields +
                  R"(,"duration_actual":3600,"status":"success"}})");
    REQUIRE(ws->next_containing(R"("for":"stop_confirmed")"));
  }

  // Slack: the alert, in plain words, naming the recording, subject, organizer and what to do.
  REQUIRE(wait_until([&] { return slack.count([](const auto& l) { return is_answer(l, 200); }) >= 1; }, 15s));
  const auto posts = slack.lines();
  std::string text;
  for (const auto& l : posts)
    if (std::string_view(l["kind"].GetString()) == "answer") text = l["body"]["text"].GetString();
  INFO(text);
  CHECK(text.starts_with("*[warning] "));
  CHECK(text.find("stopped prematurely") != std::string::npos);
  CHECK(text.find("\"Quarterly review\"") != std::string::npos);
  CHECK(text.find("organizer alice@example.org") != std::string::npos);
  CHECK(text.find("What to do: ") != std::string::npos);
  CHECK(slack.count([](const auto& l) { return is_answer(l, 200); }) == 1);  // recording.ready is not a Slack event

  // E-mail: the alert to the admins, and a ready message per meeting to the organizer.
  REQUIRE(wait_until([&] { return smtp.messages().size() >= 4; }, 15s));
  std::size_t alerts = 0, ready = 0, board = 0;
  for (const auto& m : smtp.messages()) {
    const std::string content = m["content"].GetString();
    const std::string subject = m["subject"].GetString();  // as Python's e-mail parser decodes it
    INFO(content);
    CHECK(std::string_view(m["mail_from"].GetString()) == "recorder@example.org");
    CHECK(header(content, "From") == "recorderd <recorder@example.org>");
    CHECK(header(content, "Content-Type") == "text/plain; charset=utf-8");
    CHECK_FALSE(header(content, "Date").empty());
    if (subject.starts_with("[warning] ")) {
      ++alerts;
      CHECK(m["rcpt_tos"].Size() == 2);
      CHECK(header(content, "To") == "ops@example.org, oncall@example.org");
      CHECK(content.find("What to do: ") != std::string::npos);
    } else if (subject == "Recording ready: " + kBoard) {
      // Non-ASCII and long: RFC 2047 words of at most 75 characters, folded.
      CHECK(header(content, "Subject").starts_with("=?UTF-8?B?"));
      CHECK(content.find("?=\r\n =?UTF-8?B?") != std::string::npos);
      ++board;
      // The organizer once, then the notify list in its order.
      REQUIRE(m["rcpt_tos"].Size() == 3);
      CHECK(std::string_view(m["rcpt_tos"][0].GetString()) == "alice@example.org");
      CHECK(std::string_view(m["rcpt_tos"][1].GetString()) == "bob@example.org");
      CHECK(std::string_view(m["rcpt_tos"][2].GetString()) == "carol@example.org");
      CHECK(header(content, "To") == "alice@example.org, bob@example.org, carol@example.org");
    } else if (subject.starts_with("Recording ready: ")) {
      ++ready;
      REQUIRE(m["rcpt_tos"].Size() == 1);
      CHECK(std::string_view(m["rcpt_tos"][0].GetString()) == "alice@example.org");
      CHECK(content.find(" is ready.") != std::string::npos);
      CHECK(content.find("organizer alice@example.org") != std::string::npos);
      CHECK(content.find("Duration: ") != std::string::npos);
    }
  }
  CHECK(alerts == 1);
  CHECK(ready == 2);
  CHECK(board == 1);

  // Its upload fails afterwards (an inbound hook): the admins are told, in plain words.
  auto [status, failed] = send_hook(dir.path(), d->port, "msg_fail",
                                    R"({"type":"recording.failed","data":{"recording_id":")" + weekly +
                                        R"(","error":"the CDN lost the upload"}})",
                                    {});
  REQUIRE(status == 200);
  const auto failed_mail = [&]() -> std::optional<rapidjson::Document> {
    for (auto& m : smtp.messages())
      if (std::string_view(m["subject"].GetString()) == "Recording failed: Weekly sync") return std::move(m);
    return std::nullopt;
  };
  REQUIRE(wait_until([&] { return failed_mail().has_value(); }, 15s));
  const auto mail = failed_mail();
  const std::string content = (*mail)["content"].GetString();
  INFO(content);
  CHECK(header(content, "To") == "ops@example.org, oncall@example.org");
  CHECK(content.find("Error: the upload failed: the CDN lost the upload") != std::string::npos);
  CHECK(content.find("What to do: ") != std::string::npos);
  ::kill(d->pid, SIGTERM);
  CHECK(testing::wait_exit(d->pid, 20s) == 0);
}

TEST_CASE("the processing hook gets each ready recording's JSON and files - a failing hook is an alert and is retried",
          "[integration][hook]") {
  testing::TempDir dir;
  const auto out = dir.path() / "hook";
  std::filesystem::create_directories(out);
  const auto script = dir.path() / "transcribe.sh";
  std::ofstream(script) << "#!/bin/sh\n"
                           "if [ -e '" << (out / "fail").string() << "' ]; then echo 'transcriber: model not loaded' >&2; exit 3; fi\n"
                           "cat > '" << (out / "stdin.json").string() << "'\n"
                           "printf '%s\\n' \"$@\" > '" << (out / "args").string() << "'\n";
  std::filesystem::permissions(script, std::filesystem::perms::owner_all);
  std::ofstream(out / "fail") << "";
  const auto config = write_config(dir.path(), "[delivery]\nretry_seconds = \"1,1,1,1,1,1,1,1,1,1\"\n"
                                               "[hooks]\non_ready = \"" + script.string() + "\"\ntimeout_seconds = 20\n");
  const auto data = dir.path() / "data";
  const auto log = dir.path() / "recorderd.log";
  auto d = testing::start_recorderd(RECORDERD, data, log, {"--config", config.string()});
  REQUIRE(d);
  record(d->port, "lecture-1");

  // The failure is an alert at once (and the recording stays ready).
  REQUIRE(testing::wait_for_text(log, "processing hook on_ready failed for recording.ready", 1, 15s));
  CHECK(testing::count_in_file(log, "exited with status 3; its standard error ends: transcriber: model not loaded") >= 1);
  auto health = testing::http_request("GET", "http://127.0.0.1:" + std::to_string(d->port) + "/api/webhooks",
                                      {"Authorization: Bearer " + admin_token(data)});
  REQUIRE(health.status == 200);
  CHECK(health.body.find(R"("name":"on_ready")") != std::string::npos);

  // Fixed: the next attempt runs it with the recording on stdin and its files as arguments.
  std::filesystem::remove(out / "fail");
  REQUIRE(wait_until([&] { return std::filesystem::exists(out / "args"); }, 15s));
  REQUIRE(wait_until([&] { return !slurp(out / "stdin.json").empty(); }, 5s));
  rapidjson::Document input;
  const std::string text = slurp(out / "stdin.json");
  input.Parse(text.c_str());
  REQUIRE_FALSE(input.HasParseError());
  CHECK(std::string_view(input["type"].GetString()) == "recording.ready");
  CHECK(std::string_view(input["data"]["recording_id"].GetString()) == "lecture-1");
  CHECK(std::string_view(input["data"]["state"].GetString()) == "ready");
  std::string args = slurp(out / "args");
  REQUIRE_FALSE(args.empty());
  args.pop_back();
  CHECK(args.starts_with(data.string()));
  CHECK(std::filesystem::exists(args));
  CHECK(std::filesystem::file_size(args) == input["data"]["files"][0]["bytes"].GetUint64());
  CHECK(testing::wait_for_text(log, "delivered after", 1, 5s));
  ::kill(d->pid, SIGTERM);
  CHECK(testing::wait_exit(d->pid, 20s) == 0);
}

TEST_CASE("a processing hook that hangs is killed at its timeout - with its children", "[integration][hook]") {
  testing::TempDir dir;
  const auto script = dir.path() / "hang.sh";
  const auto child_pid = dir.path() / "child.pid";
  std::ofstream(script) << "#!/bin/sh\nsleep 300 &\necho $! > '" << child_pid.string() << "'\nwait\n";
  std::filesystem::permissions(script, std::filesystem::perms::owner_all);
  const auto config = write_config(dir.path(), "[delivery]\nretry_seconds = \"60\"\n"
                                               "[hooks]\non_ready = \"" + script.string() + "\"\ntimeout_seconds = 1\n");
  const auto data = dir.path() / "data";
  const auto log = dir.path() / "recorderd.log";
  auto d = testing::start_recorderd(RECORDERD, data, log, {"--config", config.string()});
  REQUIRE(d);
  record(d->port, "lecture-2");
  REQUIRE(testing::wait_for_text(log, "did not finish within 1 s and was killed", 1, 15s));
  REQUIRE(std::filesystem::exists(child_pid));
  const pid_t child = std::stoi(slurp(child_pid));
  // Its own child went with it: the whole process group was killed.
  // Gone, or a zombie waiting for a reaper that this machine's init may not be.
  const auto dead = [&] {
    const std::string stat = slurp("/proc/" + std::to_string(child) + "/stat");
    const auto paren = stat.rfind(')');
    return stat.empty() || (paren != std::string::npos && stat.compare(paren + 2, 1, "Z") == 0);
  };
  CHECK(wait_until(dead, 5s));
  ::kill(d->pid, SIGTERM);
  CHECK(testing::wait_exit(d->pid, 20s) == 0);
}

namespace {

// One inbound webhook sent by tests/webhooks/send_hook.mjs (signed by npm standardwebhooks):
// the answer's status and body.
std::pair<int, rapidjson::Document> send_hook(const std::filesystem::path& dir, int port, const std::string& id,
                                              const std::string& body, const std::vector<std::string>& flags = {}) {
  static int n = 0;
  const auto out = dir / ("hook-" + std::to_string(++n) + ".out");
  std::vector<std::string> argv{NODE, RECORDER_SOURCE_DIR "/tests/webhooks/send_hook.mjs",
                                "http://127.0.0.1:" + std::to_string(port) + "/api/hooks/recordings", kSecret, id, body};
  argv.insert(argv.end(), flags.begin(), flags.end());
  const pid_t pid = testing::spawn(argv, out);
  REQUIRE(testing::wait_exit(pid, 20s) == 0);
  rapidjson::Document answer;
  const std::string text = slurp(out);
  answer.Parse(text.c_str());
  REQUIRE_FALSE(answer.HasParseError());
  rapidjson::Document inner;
  inner.Parse(answer["body"].GetString());
  REQUIRE_FALSE(inner.HasParseError());
  return {answer["status"].GetInt(), std::move(inner)};
}

std::string error_message(const rapidjson::Document& d) { return d["error"]["message"].GetString(); }

}  // namespace

TEST_CASE("inbound hooks: valid - forged - stale - unsigned - repeated - failed - unknown", "[integration][inbound]") {
  testing::TempDir dir;
  const auto data = dir.path() / "data";
  const auto log = dir.path() / "recorderd.log";
  auto d = testing::start_recorderd(RECORDERD, data, log, {"--set", "hooks.inbound_secret=" + kSecret});
  REQUIRE(d);
  const std::string id = meeting(d->port, "room-9", "Kata class", false);
  REQUIRE_FALSE(id.empty());
  const std::string complete = R"({"type":"recording.complete","data":{"recording_id":")" + id +
                               R"(","video_url":"https://cdn.example/v/kata.mp4","file_size":7340032}})";

  auto [status, body] = send_hook(dir.path(), d->port, "msg_1", complete);
  CHECK(status == 200);
  CHECK_FALSE(body["repeat"].GetBool());
  CHECK(std::string_view(body["recording"]["video_url"].GetString()) == "https://cdn.example/v/kata.mp4");
  CHECK(body["recording"]["file_size"].GetUint64() == 7340032);

  // The same webhook-id again with other data: 200, and nothing changes.
  const std::string other = R"({"type":"recording.complete","data":{"recording_id":")" + id +
                            R"(","video_url":"https://cdn.example/v/other.mp4"}})";
  auto [again_status, again] = send_hook(dir.path(), d->port, "msg_1", other);
  CHECK(again_status == 200);
  CHECK(again["repeat"].GetBool());
  CHECK(std::string_view(again["recording"]["video_url"].GetString()) == "https://cdn.example/v/kata.mp4");

  auto [forged_status, forged] = send_hook(dir.path(), d->port, "msg_2", complete, {"--tamper"});
  CHECK(forged_status == 401);
  CHECK(error_message(forged).find("no v1 signature matches") != std::string::npos);
  auto [stale_status, stale] = send_hook(dir.path(), d->port, "msg_3", complete, {"--age", "600"});
  CHECK(stale_status == 401);
  CHECK(error_message(stale).find("away from recorderd's clock") != std::string::npos);
  auto [bare_status, bare] = send_hook(dir.path(), d->port, "msg_4", complete, {"--unsigned"});
  CHECK(bare_status == 401);
  CHECK(error_message(bare).find("headers are required") != std::string::npos);

  // None of them changed anything.
  auto [check_status, check] = send_hook(dir.path(), d->port, "msg_1", complete);
  CHECK(check_status == 200);
  CHECK(std::string_view(check["recording"]["video_url"].GetString()) == "https://cdn.example/v/kata.mp4");

  auto [lost_status, lost] = send_hook(dir.path(), d->port, "msg_5",
                                       R"({"type":"recording.complete","data":{"recording_id":"nobody","video_url":"https://x/y"}})");
  CHECK(lost_status == 404);

  // recording.failed fails the recording it names.
  auto [failed_status, failed] =
      send_hook(dir.path(), d->port, "msg_6",
                R"({"type":"recording.failed","data":{"recording_id":")" + id + R"(","error":"the CDN lost the upload"}})");
  CHECK(failed_status == 200);
  CHECK(std::string_view(failed["recording"]["state"].GetString()) == "failed");
  CHECK(std::string_view(failed["recording"]["error"].GetString()) == "the upload failed: the CDN lost the upload");
  ::kill(d->pid, SIGTERM);
  CHECK(testing::wait_exit(d->pid, 20s) == 0);
}

TEST_CASE("endpoints added over REST are delivered to - kept across a restart - and removed", "[integration][webhook]") {
  testing::TempDir dir;
  Receiver receiver = Receiver::start(dir.path(), "receiver");
  const auto config = write_config(dir.path(), "[[webhooks]]\nname = \"file\"\nurl = \"" + receiver.url() +
                                                   "\"\nsecret = \"" + kSecret + "\"\nevents = [\"agent.*\"]\n");
  const auto data = dir.path() / "data";
  const auto log = dir.path() / "recorderd.log";
  auto d = testing::start_recorderd(RECORDERD, data, log, {"--config", config.string()});
  REQUIRE(d);
  const auto api = [&](int port, const std::string& method, const std::string& path, const std::string& body = "",
                       const std::string& token = "") {
    return testing::http_request(method, "http://127.0.0.1:" + std::to_string(port) + path,
                                 {"Authorization: Bearer " + (token.empty() ? admin_token(data) : token),
                                  "Content-Type: application/json"},
                                 body);
  };
  const std::string hook = R"({"name":"crm","url":")" + receiver.url() + R"(","secret":")" + kSecret +
                           R"(","events":["recording.ready"]})";
  auto added = api(d->port, "POST", "/api/webhooks", hook);
  INFO(added.body);
  REQUIRE(added.status == 201);
  CHECK(added.body.find(R"("source":"api")") != std::string::npos);
  CHECK(added.body.find("whsec_") == std::string::npos);  // the secret is never shown

  // Refusals: the same name, a bad secret, a name the file uses, a viewer.
  CHECK(api(d->port, "POST", "/api/webhooks", hook).status == 409);
  auto bad = api(d->port, "POST", "/api/webhooks", R"({"name":"x","url":"http://127.0.0.1:9/","secret":"hunter2"})");
  CHECK(bad.status == 400);
  CHECK(bad.body.find("webhooks.secret: expected whsec_") != std::string::npos);
  CHECK(api(d->port, "DELETE", "/api/webhooks/file").status == 409);
  auto viewer = api(d->port, "POST", "/api/tokens", R"({"name":"dash","role":"viewer"})");
  REQUIRE(viewer.status == 201);
  rapidjson::Document v;
  v.Parse(viewer.body.c_str());
  CHECK(api(d->port, "POST", "/api/webhooks", hook, v["token"].GetString()).status == 403);

  record(d->port, "crm-1");
  const auto ready_for = [&](const std::string& id) {
    return receiver.count([&](const auto& l) {
      return is_answer(l, 200) && std::string_view(l["type"].GetString()) == "recording.ready" &&
             std::string_view(l["data"]["recording_id"].GetString()) == id;
    });
  };
  REQUIRE(wait_until([&] { return ready_for("crm-1") == 1; }, 10s));

  // Restarted: the endpoint is still there and still delivered to.
  ::kill(d->pid, SIGTERM);
  REQUIRE(testing::wait_exit(d->pid, 20s) == 0);
  auto again = testing::start_recorderd(RECORDERD, data, log, {"--config", config.string()});
  REQUIRE(again);
  auto listed = api(again->port, "GET", "/api/webhooks");
  CHECK(listed.body.find(R"("name":"crm","source":"api")") != std::string::npos);
  CHECK(listed.body.find(R"("name":"file","source":"config")") != std::string::npos);
  record(again->port, "crm-2");
  REQUIRE(wait_until([&] { return ready_for("crm-2") == 1; }, 10s));

  // Removed: no longer listed, and nothing more arrives for it.
  auto removed = api(again->port, "DELETE", "/api/webhooks/crm");
  CHECK(removed.status == 200);
  CHECK(api(again->port, "DELETE", "/api/webhooks/crm").status == 404);
  CHECK(api(again->port, "GET", "/api/webhooks").body.find(R"("name":"crm")") == std::string::npos);
  record(again->port, "crm-3");
  // The file's endpoint (agent.* only) sees the ws connections of nothing here; wait for the
  // log to say crm-3 is ready, then a moment for any delivery that would wrongly follow.
  REQUIRE(testing::wait_for_text(log, R"(msg="recording.ready" recording="crm-3")", 1, 10s));
  CHECK_FALSE(wait_until([&] { return ready_for("crm-3") > 0; }, 2s));
  ::kill(again->pid, SIGTERM);
  CHECK(testing::wait_exit(again->pid, 20s) == 0);
}
