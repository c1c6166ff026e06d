// The agent dialect, /ws/agent (seed 000, docs/protocol.md section 3), against the daemon
// in-process on SQLite: real WebSocket clients play the meeting-room agents over loopback,
// the REST API (libcurl) commands them, and time runs in seconds through short configured
// limits (limits.stale_seconds, limits.hard_limit_seconds, ...) instead of hours.

#include <catch2/catch.hpp>

#include <sqlite3.h>

#include <future>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "api_client.hpp"
#include "daemon_fixture.hpp"
#include "json_util.hpp"

using namespace recorder;
using namespace recorder::testing;
using namespace std::chrono_literals;

namespace {

const std::string kMeeting =
    R"("subject":"Team Standup Meeting","organizer":"john@company.com","start_time":"2025-10-30T15:00:00Z")";

// A meeting-room agent: seed 000's messages over a real WebSocket.
struct Agent {
  std::unique_ptr<WsClient> ws;

  Agent(const RunningDaemon& d, const std::string& agent_id) : ws(d.connect("/ws/agent?agent_id=" + agent_id)) {}

  void send(const std::string& type, const std::string& fields) const {
    ws->send_text(R"({"type":")" + type + R"(","timestamp":"2025-10-30T15:05:10.123456","data":{)" + fields + "}}");
  }
  // Sends a message and returns recorderd's answer to it (ack or error).
  rapidjson::Document say(const std::string& type, const std::string& fields) const {
    send(type, fields);
    auto reply = ws->next_containing(R"("for":")" + type + "\"");
    INFO("no answer to " << type);
    REQUIRE(reply);
    return parse_json(*reply);
  }
  // The next command of `type` recorderd sends (start_recording, stop_recording).
  rapidjson::Document command(const std::string& type, std::chrono::milliseconds timeout = 10s) const {
    auto c = ws->next_containing(R"("type":")" + type + "\"", timeout);
    INFO("no " << type << " command");
    REQUIRE(c);
    return parse_json(*c);
  }
};

std::string text(const rapidjson::Value& v, const char* key) {
  REQUIRE(v.IsObject());
  REQUIRE(v.HasMember(key));
  REQUIRE(v[key].IsString());
  return v[key].GetString();
}

// The notices the daemon's outbox holds, oldest first: (type, payload), read from its
// SQLite file as an admin with sqlite3 would.
std::vector<std::pair<std::string, std::string>> outbox(const RunningDaemon& d) {
  sqlite3* db = nullptr;
  std::vector<std::pair<std::string, std::string>> out;
  const auto path = (d.dir.path() / "recorderd.db").string();
  REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "SELECT type, payload FROM outbox ORDER BY seq", -1, &st, nullptr) == SQLITE_OK);
  while (sqlite3_step(st) == SQLITE_ROW) {
    out.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)),
                     reinterpret_cast<const char*>(sqlite3_column_text(st, 1)));
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

// Waits until the outbox holds a notice of `type` whose payload contains `needle`.
bool outbox_has(const RunningDaemon& d, const std::string& type, const std::string& needle = "",
                std::chrono::milliseconds deadline = 5s) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    for (const auto& [t, payload] : outbox(d)) {
      if (t == type && payload.find(needle) != std::string::npos) return true;
    }
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(50ms);
  }
}

// Waits until `pred(recording)` holds for the recording `id`.
template <typename Pred>
core::Recording wait_for(const RunningDaemon& d, const std::string& id, Pred pred, const char* what,
                         std::chrono::milliseconds deadline = 8s) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    auto r = d.daemon->service().get(id);
    if (r && pred(*r)) return *r;
    if (std::chrono::steady_clock::now() >= until) FAIL("recording " << id << " never became " << what);
    std::this_thread::sleep_for(20ms);
  }
}

// Waits until GET /api/agents lists `agent_id` (the registry learns of a connection on
// the connection's own strand, just after the handshake).
rapidjson::Document wait_listed(const Api& api, const std::string& token, const std::string& agent_id) {
  const auto until = std::chrono::steady_clock::now() + 5s;
  for (;;) {
    auto doc = parse_json(api.call("GET", "/api/agents", token).body);
    for (const auto& a : doc["agents"].GetArray()) {
      if (text(a, "agent_id") == agent_id) {
        rapidjson::Document one;
        one.CopyFrom(a, one.GetAllocator());
        return one;
      }
    }
    if (std::chrono::steady_clock::now() >= until) FAIL("agent " << agent_id << " is not listed");
    std::this_thread::sleep_for(20ms);
  }
}

// POST /api/recordings for a remote start on `agent_id` (connected and listed first);
// the new recording's id.
std::string remote_start(const Api& api, const std::string& token, const std::string& agent_id,
                         const std::string& more = "") {
  wait_listed(api, token, agent_id);
  auto created = api.call("POST", "/api/recordings", token,
                          R"({"kind":"agent","agent_id":")" + agent_id + R"(","subject":"Team Standup Meeting",)"
                          R"("organizer":"john@company.com","start_time":"2025-10-30T15:00:00Z")" + more + "}");
  REQUIRE(created.status == 201);
  return text(parse_json(created.body), "id");
}

}  // namespace

TEST_CASE("seed 000 test 1 - a remote start runs to a normal completion", "[daemon][agent]") {
  RunningDaemon d;
  Api api{d};
  const std::string admin = admin_token(d);
  const std::string start_body = R"({"kind":"agent","agent_id":"room-1","subject":"Team Standup Meeting",)"
                                 R"("organizer":"john@company.com","start_time":"2025-10-30T17:00:00+02:00",)"
                                 R"("duration_expected":3600})";

  // Nobody to command yet: refused, and nothing is created.
  auto refused = api.call("POST", "/api/recordings", admin, start_body);
  CHECK(refused.status == 409);
  CHECK(text(parse_json(refused.body)["error"], "message") ==
        "agent 'room-1' is not connected: it cannot be told to start recording");
  CHECK(d.daemon->service().live().empty());

  Agent agent(d, "room-1");
  wait_listed(api, admin, "room-1");
  auto created = api.call("POST", "/api/recordings", admin, start_body);
  REQUIRE(created.status == 201);
  auto rec = parse_json(created.body);
  const std::string id = text(rec, "id");
  CHECK(text(rec, "state") == "starting");
  CHECK(text(rec, "start_time") == "2025-10-30T15:00:00Z");  // normalised to UTC
  CHECK(rec["remote_triggered"].GetBool());

  auto cmd = agent.command("start_recording");
  CHECK(text(cmd["data"], "subject") == "Team Standup Meeting");
  CHECK(text(cmd["data"], "organizer") == "john@company.com");
  CHECK(text(cmd["data"], "start_time") == "2025-10-30T15:00:00Z");
  CHECK(cmd["data"]["duration_expected"].GetInt64() == 3600);
  CHECK(text(cmd["data"], "recording_id") == id);
  CHECK(text(cmd, "timestamp").ends_with("Z"));

  auto ack = agent.say("start_confirmed", kMeeting);
  CHECK(text(ack, "type") == "ack");
  CHECK(text(ack["data"], "recording_id") == id);
  CHECK(text(ack["data"], "state") == "recording");

  // Every 5 s in real life; two here.
  for (int elapsed : {305, 310}) {
    auto status = agent.say("recording_status", kMeeting + R"(,"status":"recording","elapsed":)" +
                                                    std::to_string(elapsed) + R"(,"remaining":)" +
                                                    std::to_string(3600 - elapsed));
    CHECK(text(status["data"], "recording_id") == id);
  }
  auto shown = parse_json(api.call("GET", "/api/recordings/" + id, admin).body);
  CHECK(text(shown, "agent_status") == "recording");
  CHECK(shown["elapsed"].GetDouble() == 310);
  CHECK(shown["remaining"].GetDouble() == 3290);
  CHECK(text(shown, "agent_timestamp") == "2025-10-30T15:05:10.123456");
  auto listed = wait_listed(api, admin, "room-1");
  CHECK(text(listed, "recording_id") == id);
  CHECK(text(listed, "last_message") == "recording_status");
  CHECK(listed["messages"].GetUint64() == 3);

  auto stopped = agent.say("stop_confirmed", kMeeting + R"(,"duration_actual":3605,"duration_expected":3600,)"
                                                        R"("reason":"completed","status":"success")");
  CHECK(text(stopped["data"], "state") == "ready");
  CHECK(text(stopped["data"], "outcome") == "completed");
  shown = parse_json(api.call("GET", "/api/recordings/" + id, admin).body);
  CHECK(text(shown, "outcome") == "completed");
  CHECK(text(shown, "stop_reason") == "completed");
  CHECK(shown["duration_actual"].GetDouble() == 3605);
  CHECK(shown["video_url"].IsNull());
  CHECK(outbox_has(d, "agent.connected", "room-1"));
  CHECK(outbox_has(d, "recording.ready", id));
}

TEST_CASE("the uploaded video is attached over REST - once and by an operator", "[daemon][agent][rest]") {
  RunningDaemon d;
  Api api{d};
  const std::string admin = admin_token(d);
  Agent agent(d, "room-1");
  const std::string id = text(agent.say("start_confirmed", kMeeting)["data"], "recording_id");
  agent.say("stop_confirmed", kMeeting + R"(,"duration_actual":3605,"duration_expected":3600,"status":"success")");

  const std::string body = R"({"video_url":"https://files.example/standup.mp4","file_size":123456789})";
  auto attached = api.call("POST", "/api/recordings/" + id + "/video", admin, body);
  REQUIRE(attached.status == 200);
  auto doc = parse_json(attached.body);
  CHECK(text(doc, "video_url") == "https://files.example/standup.mp4");
  CHECK(doc["file_size"].GetUint64() == 123456789u);
  CHECK(api.call("POST", "/api/recordings/" + id + "/video", admin, body).status == 200);  // again: the same
  CHECK(text(parse_json(api.call("GET", "/api/recordings/" + id, admin).body), "video_url") ==
        "https://files.example/standup.mp4");

  auto bad = api.call("POST", "/api/recordings/" + id + "/video", admin, R"({"video_url":"ftp://x/y"})");
  CHECK(bad.status == 400);
  CHECK(text(parse_json(bad.body)["error"], "message") ==
        "video_url: required, an http:// or https:// URL of at most 2048 characters");
  CHECK(api.call("POST", "/api/recordings/" + id + "/video", admin, R"({"video_url":"https://x/y","file_size":-1})")
            .status == 400);
  CHECK(api.call("POST", "/api/recordings/" + id + "/video", admin, R"({"video_url":"https://x/y","size":1})")
            .status == 400);
  CHECK(api.call("POST", "/api/recordings/nobody/video", admin, body).status == 404);
  auto viewer = api.call("POST", "/api/tokens", admin, R"({"name":"wall","role":"viewer"})");
  const std::string viewer_token = text(parse_json(viewer.body), "token");
  CHECK(api.call("POST", "/api/recordings/" + id + "/video", viewer_token, body).status == 403);
}

TEST_CASE("seed 000 test 2 - a manual stop on the agent is a premature stop with an alert", "[daemon][agent]") {
  RunningDaemon d;
  Agent agent(d, "room-2");
  // Started on the agent itself: the first report creates the recording.
  auto ack = agent.say("start_confirmed", kMeeting);
  const std::string id = text(ack["data"], "recording_id");
  CHECK_FALSE(d.get(id).remote_triggered);
  agent.say("recording_status", kMeeting + R"(,"status":"recording","elapsed":600,"remaining":3000)");
  auto premature = agent.say("recording_stopped_premature",
                             kMeeting + R"(,"duration_actual":600,"duration_expected":3600,)"
                                        R"("reason":"User stopped recording manually or error occurred")");
  CHECK(text(premature["data"], "outcome") == "stopped_premature");
  const auto r = d.get(id);
  CHECK(r.duration_seconds == 600.0);
  CHECK(r.expected_duration == core::Seconds{3600});
  CHECK(r.stop_reason == core::StopReason::premature);
  CHECK(outbox_has(d, "alert.warning", "stopped prematurely"));
}

TEST_CASE("a stop over REST commands the agent and answers once it confirms", "[daemon][agent][rest]") {
  RunningDaemon d;
  Api api{d};
  const std::string admin = admin_token(d);
  Agent agent(d, "room-3");
  const std::string id = remote_start(api, admin, "room-3", R"(,"duration_expected":3600)");
  agent.command("start_recording");
  agent.say("start_confirmed", kMeeting);

  // The HTTP call waits on its own thread; Catch's macros stay on this one (they are not
  // thread-safe: TSan caught INFO in Api::call racing with the agent's).
  auto stop = std::async(std::launch::async, [url = api.url("/api/recordings/" + id + "/stop"), admin] {
    return http_request("POST", url, {"Authorization: Bearer " + admin});
  });
  auto cmd = agent.command("stop_recording");
  CHECK(text(cmd["data"], "reason") == "manual");
  CHECK(text(cmd["data"], "recording_id") == id);
  CHECK(stop.wait_for(300ms) == std::future_status::timeout);  // it waits for the agent
  agent.say("stop_confirmed", kMeeting + R"(,"duration_actual":600,"duration_expected":3600,)"
                                         R"("reason":"manual","status":"success")");
  auto answered = stop.get();
  REQUIRE(answered.error.empty());
  CHECK(answered.status == 200);
  auto doc = parse_json(answered.body);
  CHECK(text(doc, "state") == "ready");
  CHECK(text(doc, "outcome") == "stopped_early");  // manual and more than 60 s short
}

TEST_CASE("seed 000 test 3 - a crashed agent turns stale with an alert and then fails", "[daemon][agent]") {
  RunningDaemon d(Settings{{"limits.stale_seconds", "1"}, {"limits.stale_give_up_seconds", "2"}});
  auto agent = std::make_unique<Agent>(d, "room-4");
  const std::string id = text(agent->say("start_confirmed", kMeeting)["data"], "recording_id");
  agent->ws->drop();  // the process was killed: no close frame, no more status
  const auto t0 = std::chrono::steady_clock::now();
  wait_for(d, id, [](const core::Recording& r) { return r.state == core::State::stale; }, "stale");
  CHECK(std::chrono::steady_clock::now() - t0 < 2500ms);
  CHECK(outbox_has(d, "recording.stale", id));
  CHECK(outbox_has(d, "alert.warning", "Stale recording detected"));
  CHECK(outbox_has(d, "agent.disconnected", "room-4"));
  const auto failed = wait_for(d, id, [](const core::Recording& r) { return r.state == core::State::failed; }, "failed");
  CHECK(failed.stop_reason == core::StopReason::stale);
  CHECK(failed.error.find("given up") != std::string::npos);
  CHECK(outbox_has(d, "alert.critical", "given up"));
}

TEST_CASE("seed 000 test 4 - after a network drop the agent comes back and reports the premature stop",
          "[daemon][agent]") {
  RunningDaemon d(Settings{{"limits.stale_seconds", "1"}});
  auto agent = std::make_unique<Agent>(d, "room-5");
  const std::string id = text(agent->say("start_confirmed", kMeeting)["data"], "recording_id");
  agent->ws->drop();
  wait_for(d, id, [](const core::Recording& r) { return r.state == core::State::stale; }, "stale");

  // The recording went on locally; the network is back.
  Agent back(d, "room-5");
  auto revived = back.say("recording_status", kMeeting + R"(,"status":"recording","elapsed":700,"remaining":2900)");
  CHECK(text(revived["data"], "recording_id") == id);
  CHECK(text(revived["data"], "state") == "recording");
  CHECK(outbox_has(d, "recording.revived", id));
  auto premature = back.say("recording_stopped_premature",
                            kMeeting + R"(,"duration_actual":720,"duration_expected":3600,"reason":"error")");
  CHECK(text(premature["data"], "outcome") == "stopped_premature");
  CHECK(d.get(id).stop_reason == core::StopReason::error);
}

TEST_CASE("seed 000 test 5 - the hard limit commands a remote recording to stop", "[daemon][agent]") {
  RunningDaemon d(Settings{{"limits.hard_limit_seconds", "2"}});
  Api api{d};
  const std::string admin = admin_token(d);
  Agent agent(d, "room-6");
  const std::string id = remote_start(api, admin, "room-6", R"(,"duration_expected":14400)");
  agent.command("start_recording");
  agent.say("start_confirmed", kMeeting);
  const auto t0 = std::chrono::steady_clock::now();
  auto cmd = agent.command("stop_recording", 5s);
  const auto waited = std::chrono::steady_clock::now() - t0;
  CHECK(waited > 1500ms);
  CHECK(waited < 3s);
  CHECK(text(cmd["data"], "reason") == "automatic_limit");
  auto premature = agent.say("recording_stopped_premature",
                             kMeeting + R"(,"duration_actual":2,"duration_expected":14400,"reason":"automatic_limit")");
  CHECK(text(premature["data"], "outcome") == "stopped_premature");
  const auto r = d.get(id);
  CHECK(r.stop_reason == core::StopReason::automatic_limit);
  CHECK(r.duration_seconds == 2.0);
}

TEST_CASE("seed 000 test 6 - the hard limit ends a manual recording without a command", "[daemon][agent]") {
  RunningDaemon d(Settings{{"limits.hard_limit_seconds", "2"}});
  Agent agent(d, "room-7");
  const std::string id = text(agent.say("start_confirmed", kMeeting)["data"], "recording_id");
  const auto r = wait_for(d, id, [](const core::Recording& x) { return x.state == core::State::ready; }, "ready");
  CHECK(r.stop_reason == core::StopReason::automatic_limit);
  CHECK(r.duration_seconds >= 1.9);
  CHECK_FALSE(agent.ws->next_containing("stop_recording", 500ms));  // the agent stopped it itself
}

TEST_CASE("a remote start nobody confirms is retried with back-off and then fails with an alert", "[daemon][agent]") {
  RunningDaemon d(Settings{{"limits.start_timeout_seconds", "1"}, {"capture.retry_initial_seconds", "1"},
                   {"capture.start_attempts", "2"}});
  Api api{d};
  const std::string admin = admin_token(d);
  Agent agent(d, "room-8");
  const std::string id = remote_start(api, admin, "room-8");
  agent.command("start_recording");
  agent.command("start_recording", 5s);  // the retry
  const auto r = wait_for(d, id, [](const core::Recording& x) { return x.state == core::State::failed; }, "failed");
  CHECK(r.error.find("start failed after 2 attempts") != std::string::npos);
  CHECK(outbox_has(d, "alert.critical", "start failed after 2 attempts"));
}

TEST_CASE("a second connection with the same agent_id takes over and the first is closed", "[daemon][agent]") {
  RunningDaemon d;
  Api api{d};
  const std::string admin = admin_token(d);
  Agent first(d, "room-9");
  wait_listed(api, admin, "room-9");
  Agent second(d, "room-9");
  CHECK(first.ws->wait_closed() == 4000);
  CHECK(first.ws->close_reason().find("replaced") != std::string::npos);
  const auto listed = parse_json(api.call("GET", "/api/agents", admin).body);
  CHECK(listed["count"].GetUint64() == 1);
  remote_start(api, admin, "room-9");
  second.command("start_recording");  // commands go to the newer connection
  CHECK_FALSE(outbox_has(d, "agent.disconnected", "room-9", 300ms));  // the agent never went away
  second.ws->close();
  CHECK(outbox_has(d, "agent.disconnected", "room-9"));
}

TEST_CASE("malformed agent messages are answered with errors that name the problem", "[daemon][agent]") {
  RunningDaemon d;
  Agent agent(d, "room-10");
  const auto error_for = [&](const std::string& raw) {
    agent.ws->send_text(raw);
    auto reply = agent.ws->next_containing(R"("type":"error")");
    INFO(raw);
    REQUIRE(reply);
    return text(parse_json(*reply)["data"], "message");
  };
  CHECK(error_for("{not json").starts_with("malformed JSON"));
  CHECK(error_for("[1,2]") == R"(every message is {"type": "...", "timestamp": "...", "data": {...}})");
  CHECK(error_for(R"({"data":{}})").starts_with(R"("type" is missing or not a string)"));
  CHECK(error_for(R"({"type":"hello","data":{}})") ==
        "unknown type 'hello': expected start_confirmed, recording_status, stop_confirmed or "
        "recording_stopped_premature");
  CHECK(error_for(R"({"type":"recording_status"})") == R"(recording_status needs a "data" object)");
  CHECK(error_for(R"({"type":"recording_status","data":{"organizer":"o","start_time":"2025-10-30T15:00:00Z"}})") ==
        "data.subject: required, a non-empty string (at most 1000 characters)");
  CHECK(error_for(R"({"type":"recording_status","data":{"subject":"s","organizer":"o","start_time":"tomorrow"}})")
            .starts_with("start_time: 'tomorrow' is not an ISO 8601 date and time"));
  CHECK(error_for(R"({"type":"recording_status","data":{)" + kMeeting + R"(,"elapsed":"ten"}})") ==
        "data.elapsed: expected a number of seconds, 0 or more");
  CHECK(error_for(R"({"type":"stop_confirmed","data":{)" + kMeeting + R"(,"status":"ok"}})") ==
        R"(data.status: 'ok' is not a stop status; expected "success" or "failed")");
  CHECK(error_for(R"({"type":"recording_status","timestamp":5,"data":{}})") ==
        "timestamp: expected an ISO 8601 time as a string (at most 64 characters)");
  agent.ws->send_binary("\x01\x02");
  REQUIRE(agent.ws->next_containing("binary frames are not part of the agent dialect"));
  CHECK(d.daemon->service().live().empty());  // nothing stored under a garbage key
  // The connection stays usable.
  CHECK(text(agent.say("start_confirmed", kMeeting), "type") == "ack");
  CHECK(d.daemon->service().live().size() == 1);
}

TEST_CASE("/ws/agent without an agent_id is refused at the handshake", "[daemon][agent]") {
  RunningDaemon d;
  for (const char* path : {"/ws/agent", "/ws/agent?agent_id=", "/ws/agent?room=1"}) {
    std::string error;
    auto c = WsClient::connect(d.url(path), error);
    INFO(path);
    CHECK_FALSE(c);
    CHECK(error.find("HTTP 400") != std::string::npos);
  }
}
