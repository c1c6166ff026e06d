// The REST API (docs/protocol.md sections 5 and 6) against the daemon in-process on SQLite,
// with a real HTTP client (libcurl) and real WebSocket clients making the recordings.

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <algorithm>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "daemon_fixture.hpp"
#include "recorder/adapters/gstreamer/gst_media.hpp"
#include "recorder/core/domain/time_text.hpp"
#include "api_client.hpp"
#include "json_util.hpp"

using namespace recorder;
using namespace recorder::testing;
using namespace std::chrono_literals;

namespace {



std::string make_token(const Api& api, const std::string& admin, const std::string& name, const std::string& role) {
  auto made = api.call("POST", "/api/tokens", admin, R"({"name":")" + name + R"(","role":")" + role + R"("})");
  REQUIRE(made.status == 201);
  auto doc = parse_json(made.body);
  REQUIRE(doc.IsObject());
  CHECK(std::string(doc["role"].GetString()) == role);
  return doc["token"].GetString();
}

// A finished stream recording made over /ws/record (seed 001), `n` chunks.
void record_stream(const RunningDaemon& d, const std::string& id, int n = 2) {
  auto c = d.connect("/ws/record");
  c->send_text(R"({"event":"start","data":{"recordId":")" + id + R"(","mimeType":"video/webm"}})");
  REQUIRE(c->next_containing("\"started\""));
  for (int i = 0; i < n; ++i) {
    c->send_text(chunk_json(id, static_cast<std::uint64_t>(i), base64("chunk " + std::to_string(i) + " of " + id)));
    REQUIRE(c->next_containing("chunkAck"));
  }
  c->send_text(event_json("stop", id));
  REQUIRE(c->next_containing("recordingReady"));
}

std::string error_code(const HttpAnswer& a) {
  auto doc = parse_json(a.body);
  if (!doc.IsObject() || !doc.HasMember("error")) return "";
  return doc["error"]["code"].GetString();
}

std::string error_message(const HttpAnswer& a) {
  auto doc = parse_json(a.body);
  if (!doc.IsObject() || !doc.HasMember("error")) return "";
  return doc["error"]["message"].GetString();
}

std::vector<std::string> ids_of(const std::string& body) {
  auto doc = parse_json(body);
  std::vector<std::string> out;
  for (const auto& r : doc["recordings"].GetArray()) out.emplace_back(r["id"].GetString());
  return out;
}

}  // namespace

TEST_CASE("first start writes an admin token (0600) once - it works - a second start keeps it", "[daemon][rest][tokens]") {
  TempDir data;
  std::string token;
  {
    RunningDaemon d({}, data.path());
    const auto path = data.path() / "admin.token";
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    token = admin_token(data.path());
    CHECK(token.starts_with("rec_"));
    CHECK(token.size() == 60);
    Api api{d};
    auto tokens = api.call("GET", "/api/tokens", token);
    CHECK(tokens.status == 200);
    auto doc = parse_json(tokens.body);
    REQUIRE(doc["tokens"].Size() == 1);
    CHECK(std::string(doc["tokens"][0]["role"].GetString()) == "admin");
    CHECK(tokens.body.find(token.substr(17)) == std::string::npos);  // no secret in a list
  }
  RunningDaemon again({}, data.path());
  CHECK(admin_token(data.path()) == token);
  Api api{again};
  auto tokens = api.call("GET", "/api/tokens", token);
  REQUIRE(tokens.status == 200);
  CHECK(parse_json(tokens.body)["tokens"].Size() == 1);
  CHECK_FALSE(parse_json(tokens.body)["tokens"][0]["last_used_at"].IsNull());
}

TEST_CASE("every endpoint refuses without a token (401) and below its role (403) - saying nothing of the recording",
          "[daemon][rest][tokens]") {
  RunningDaemon d(Settings{{"capture.devices", "camera0=test"}});
  Api api{d};
  const auto admin = admin_token(d);
  const auto viewer = make_token(api, admin, "wall screen", "viewer");
  const auto operator_ = make_token(api, admin, "scheduler", "operator");
  const auto revoked = make_token(api, admin, "old laptop", "admin");
  const std::string revoked_id = parse_json(api.call("GET", "/api/tokens", admin).body)["tokens"][3]["id"].GetString();
  REQUIRE(api.call("DELETE", "/api/tokens/" + revoked_id, admin).status == 200);
  record_stream(d, "secret-standup");

  struct Endpoint {
    std::string method;
    std::string path;
    std::string body;
    int needed;  // 1 viewer, 2 operator, 3 admin
  };
  const std::vector<Endpoint> endpoints{
      {"GET", "/api/recordings", "", 1},
      {"GET", "/api/recordings/secret-standup", "", 1},
      {"GET", "/api/recordings/secret-standup/events", "", 1},
      {"GET", "/api/storage", "", 1},
      {"GET", "/api/devices", "", 1},
      {"GET", "/api/agents", "", 1},
      {"POST", "/api/recordings", R"({"kind":"capture","device":"nope"})", 2},
      {"POST", "/api/recordings/secret-standup/stop", "", 2},
      {"DELETE", "/api/recordings/no-such-recording", "", 3},
      {"GET", "/api/tokens", "", 3},
      {"POST", "/api/tokens", R"({"name":"x","role":"viewer"})", 3},
      {"DELETE", "/api/tokens/no-such-token", "", 3},
  };
  const std::vector<std::pair<std::string, int>> callers{
      {"", 0}, {"not-a-token", 0}, {revoked, 0}, {viewer, 1}, {operator_, 2}, {admin, 3}};
  for (const auto& e : endpoints) {
    for (const auto& [token, level] : callers) {
      INFO(e.method << " " << e.path << " as level " << level);
      auto a = api.call(e.method, e.path, token, e.body);
      CHECK((a.body.find("secret-standup") == std::string::npos || (level >= e.needed && a.status < 400)));
      if (level == 0) {
        CHECK(a.status == 401);
        CHECK(error_code(a) == "unauthenticated");
        CHECK(a.header("www-authenticate").starts_with("Bearer"));
      } else if (level < e.needed) {
        CHECK(a.status == 403);
        CHECK(error_code(a) == "forbidden");
        CHECK_THAT(error_message(a), Catch::Contains(e.needed == 2 ? "operator role" : "admin role"));
      } else {
        CHECK(a.status != 401);
        CHECK(a.status != 403);
      }
    }
  }
  // The token may also come as ?access_token= (browsers' WebSockets cannot set headers).
  CHECK(http_request("GET", api.url("/api/storage?access_token=" + viewer)).status == 200);
  CHECK(http_request("GET", api.url("/api/storage?access_token=rec_nope")).status == 401);
}

TEST_CASE("recordings list with filters and cursor pages that stay stable while recordings are added",
          "[daemon][rest]") {
  RunningDaemon d;
  Api api{d};
  const auto viewer = make_token(api, admin_token(d), "viewer", "viewer");
  for (int i = 0; i < 5; ++i) record_stream(d, "rec-" + std::to_string(i));

  auto all = api.call("GET", "/api/recordings", viewer);
  REQUIRE(all.status == 200);
  CHECK(ids_of(all.body) == std::vector<std::string>{"rec-4", "rec-3", "rec-2", "rec-1", "rec-0"});
  auto doc = parse_json(all.body);
  CHECK(doc["next_cursor"].IsNull());
  const auto& first = doc["recordings"][0];
  CHECK(std::string(first["state"].GetString()) == "ready");
  CHECK(std::string(first["status"].GetString()) == "ready");
  CHECK(std::string(first["recording_status"].GetString()) == "ready");
  CHECK(std::string(first["session_id"].GetString()) == "rec-4");
  CHECK(std::string(first["recording_id"].GetString()) == "rec-4");
  CHECK(std::string(first["outcome"].GetString()) == "completed");
  CHECK(first["chunks"].GetUint64() == 2);
  CHECK(first["file_size_bytes"].GetUint64() == first["bytes"].GetUint64());
  CHECK(std::string(first["ended_at"].GetString()).ends_with("Z"));

  // Pages of 2, with new recordings made between the pages: every old one once, in order.
  std::vector<std::string> seen;
  std::string cursor;
  for (int page = 0; page < 10; ++page) {
    auto a = api.call("GET", "/api/recordings?kind=stream&state=ready&limit=2" + (cursor.empty() ? "" : "&cursor=" + cursor),
                      viewer);
    REQUIRE(a.status == 200);
    for (auto& id : ids_of(a.body)) seen.push_back(id);
    record_stream(d, "new-" + std::to_string(page));
    auto p = parse_json(a.body);
    if (p["next_cursor"].IsNull()) break;
    cursor = p["next_cursor"].GetString();
  }
  CHECK(seen == std::vector<std::string>{"rec-4", "rec-3", "rec-2", "rec-1", "rec-0"});

  CHECK(ids_of(api.call("GET", "/api/recordings?kind=capture", viewer).body).empty());
  CHECK(ids_of(api.call("GET", "/api/recordings?state=recording", viewer).body).empty());
  CHECK(ids_of(api.call("GET", "/api/recordings?until=2000-01-01T00:00:00Z", viewer).body).empty());
  CHECK(ids_of(api.call("GET", "/api/recordings?since=2000-01-01T02:00:00%2B02:00&limit=3", viewer).body).size() == 3);

  // Bad parameters name themselves.
  for (const auto& [query, words] : std::vector<std::pair<std::string, std::string>>{
           {"state=bogus", "state: 'bogus' is not a state"},
           {"kind=video", "kind: 'video' is not a kind"},
           {"limit=0", "limit: '0' is not a number from 1 to 1000"},
           {"limit=abc", "limit:"},
           {"since=yesterday", "since: 'yesterday' is not an ISO 8601 date and time"},
           {"cursor=zz", "cursor: not a cursor this server gave out"},
           {"color=red", "unknown query parameter 'color'"}}) {
    auto a = api.call("GET", "/api/recordings?" + query, viewer);
    INFO(query);
    CHECK(a.status == 400);
    CHECK(error_code(a) == "invalid_argument");
    CHECK_THAT(error_message(a), Catch::Contains(words));
  }
}

TEST_CASE("a capture over REST: start - conflict - show by session_id - events - stop - delete", "[daemon][rest][capture]") {
  RunningDaemon d(Settings{{"capture.devices", "camera0=test"}});
  Api api{d};
  const auto admin = admin_token(d);
  const auto op = make_token(api, admin, "scheduler", "operator");

  auto started = api.call("POST", "/api/recordings", op,
                          R"({"kind":"capture","device":"camera0","session_id":"training-42","duration_seconds":600})");
  REQUIRE(started.status == 201);
  auto doc = parse_json(started.body);
  const std::string id = doc["id"].GetString();
  CHECK(std::string(doc["kind"].GetString()) == "capture");
  CHECK(std::string(doc["session_id"].GetString()) == "training-42");
  CHECK(std::string(doc["device"].GetString()) == "camera0");
  CHECK(std::string(doc["owner"].GetString()) == "scheduler");
  CHECK(doc["duration_expected"].GetInt64() == 600);

  // The device is busy: 409 with the recording that holds it.
  auto busy = api.call("POST", "/api/recordings", op, R"({"kind":"capture","device":"camera0"})");
  CHECK(busy.status == 409);
  CHECK(error_code(busy) == "device_busy");
  CHECK(std::string(parse_json(busy.body)["error"]["recording_id"].GetString()) == id);

  auto by_session = api.call("GET", "/api/recordings/training-42", op);
  REQUIRE(by_session.status == 200);
  CHECK(std::string(parse_json(by_session.body)["id"].GetString()) == id);
  auto devices = parse_json(api.call("GET", "/api/devices", op).body);
  CHECK(std::string(devices["devices"][0]["name"].GetString()) == "camera0");

  // A live recording is not deleted: stop it first.
  auto live_delete = api.call("DELETE", "/api/recordings/" + id, admin);
  CHECK(live_delete.status == 409);
  CHECK_THAT(error_message(live_delete), Catch::Contains("stop it before deleting it"));

  // Stopped once it records (a stop before the pipeline runs fails the recording instead).
  const auto until = std::chrono::steady_clock::now() + 20s;
  while (d.get(id).state != core::State::recording && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(20ms);
  REQUIRE(d.get(id).state == core::State::recording);
  auto stopped = api.call("POST", "/api/recordings/training-42/stop", op);
  REQUIRE(stopped.status == 200);
  auto s = parse_json(stopped.body);
  CHECK(std::string(s["stop_reason"].GetString()) == "manual");
  CHECK_FALSE(s["ended_at"].IsNull());
  const std::string state = s["state"].GetString();
  CHECK((state == "finalizing" || state == "processing" || state == "ready"));
  CHECK(core::is_terminal(d.wait_finished(id).state));
  CHECK(devices.IsObject());
  auto free_again = parse_json(api.call("GET", "/api/devices", op).body);
  CHECK_FALSE(free_again["devices"][0]["recording"].GetBool());

  auto events = parse_json(api.call("GET", "/api/recordings/" + id + "/events", op).body);
  REQUIRE(events["events"].Size() >= 3);
  CHECK(std::string(events["events"][0]["event"].GetString()) == "created");

  auto deleted = api.call("DELETE", "/api/recordings/training-42", admin);
  REQUIRE(deleted.status == 200);
  auto del = parse_json(deleted.body);
  CHECK(del["deleted"].GetBool());
  CHECK(std::string(del["session_id"].GetString()) == "training-42");
  CHECK(std::string(del["message"].GetString()) == "Recording deleted successfully");
  CHECK(std::string(parse_json(api.call("GET", "/api/recordings/" + id, op).body)["state"].GetString()) == "deleted");
}

TEST_CASE("REST bad input is a 400 naming the field - unknown ids are 404 - tokens are made and revoked",
          "[daemon][rest]") {
  RunningDaemon d(Settings{{"capture.devices", "camera0=test"}});
  Api api{d};
  const auto admin = admin_token(d);
  for (const auto& [body, words] : std::vector<std::pair<std::string, std::string>>{
           {"{", "the body is not JSON"},
           {"[]", "the body must be a JSON object"},
           {R"({"device":"camera0"})", "kind: expected \"capture\" or \"agent\""},
           {R"({"kind":"capture"})", "device: required"},
           {R"({"kind":"capture","device":"camera9"})", "device: 'camera9' is not a configured device"},
           {R"({"kind":"capture","device":"rtsp://10.0.0.1/x"})", "is not a configured device"},
           {R"({"kind":"capture","device":7})", "device: expected a string"},
           {R"({"kind":"capture","device":"camera0","duration_seconds":-5})", "duration_seconds: expected whole seconds"},
           {R"({"kind":"capture","device":"camera0","colour":"red"})", "unknown field 'colour'"},
           {R"({"kind":"agent","agent_id":"room-1","subject":"S","organizer":"o@x"})", "start_time: required"},
           {R"({"kind":"agent","agent_id":"room-1","subject":"S","organizer":"o@x","start_time":"soon"})",
            "start_time: 'soon' is not an ISO 8601"},
           {R"({"kind":"capture","device":"camera0","session_id":""})", "device"}}) {
    INFO(body);
    auto a = api.call("POST", "/api/recordings", admin, body);
    if (body.find(R"("session_id":"")") != std::string::npos) {
      // An empty session_id means none: the capture starts.
      CHECK(a.status == 201);
      continue;
    }
    CHECK(a.status == 400);
    CHECK(error_code(a) == "invalid_argument");
    CHECK_THAT(error_message(a), Catch::Contains(words));
  }
  CHECK(api.call("GET", "/api/recordings/nope", admin).status == 404);
  CHECK_THAT(error_message(api.call("GET", "/api/recordings/nope", admin)), Catch::Contains("no recording with id or session_id 'nope'"));
  CHECK(api.call("POST", "/api/recordings/nope/stop", admin).status == 404);
  CHECK(api.call("DELETE", "/api/recordings/nope", admin).status == 404);
  CHECK(api.call("GET", "/api/recordings/nope/events", admin).status == 404);

  // Tokens: bad bodies, then a viewer that works until it is revoked.
  CHECK_THAT(error_message(api.call("POST", "/api/tokens", admin, R"({"name":"x","role":"root"})")),
             Catch::Contains("role: 'root' is not a role"));
  CHECK_THAT(error_message(api.call("POST", "/api/tokens", admin, R"({"role":"viewer"})")), Catch::Contains("name: required"));
  CHECK_THAT(error_message(api.call("POST", "/api/tokens", admin, R"({"name":"","role":"viewer"})")),
             Catch::Contains("name: 1 to 100 characters"));
  auto made = api.call("POST", "/api/tokens", admin, R"({"name":"kiosk","role":"viewer"})");
  REQUIRE(made.status == 201);
  auto m = parse_json(made.body);
  const std::string viewer = m["token"].GetString();
  const std::string id = m["id"].GetString();
  CHECK(api.call("GET", "/api/storage", viewer).status == 200);
  auto storage = parse_json(api.call("GET", "/api/storage", viewer).body);
  CHECK(storage["total_bytes"].GetUint64() > 0);
  CHECK(storage["warn_percent"].GetDouble() == 80.0);
  CHECK(std::string(storage["level"].GetString()).size() > 0);
  CHECK(std::string(api.call("GET", "/api/agents", viewer).body) == R"({"agents":[],"count":0})");
  REQUIRE(api.call("DELETE", "/api/tokens/" + id, admin).status == 200);
  CHECK(api.call("DELETE", "/api/tokens/" + id, admin).status == 404);
  auto refused = api.call("GET", "/api/storage", viewer);
  CHECK(refused.status == 401);
  CHECK_THAT(error_message(refused), Catch::Contains("unknown or revoked"));
  auto listed = parse_json(api.call("GET", "/api/tokens", admin).body);
  bool found = false;
  for (const auto& t : listed["tokens"].GetArray()) {
    if (std::string(t["id"].GetString()) != id) continue;
    found = true;
    CHECK_FALSE(t["revoked_at"].IsNull());
    CHECK_FALSE(t["last_used_at"].IsNull());
    CHECK_FALSE(t.HasMember("token"));
  }
  CHECK(found);
}

namespace {

// Records `id` over /ws/record with `data` as one chunk; the downloadUrl it was given.
std::string record_and_get_url(const RunningDaemon& d, const std::string& id, const std::string& data) {
  auto c = d.connect("/ws/record");
  c->send_text(R"({"event":"start","data":{"recordId":")" + id + R"(","mimeType":"video/webm"}})");
  REQUIRE(c->next_containing("\"started\""));
  c->send_text(chunk_json(id, 0, base64(data)));
  REQUIRE(c->next_containing("chunkAck"));
  c->send_text(event_json("stop", id));
  auto ready = c->next_containing("recordingReady");
  REQUIRE(ready);
  return parse_json(*ready)["data"]["downloadUrl"].GetString();
}

std::string with_port(const std::string& url, const RunningDaemon& d) {
  const auto path = url.find("/media/");
  return "http://127.0.0.1:" + std::to_string(d.daemon->port()) + url.substr(path);
}

}  // namespace

TEST_CASE("media opens with the signed URLs recorderd hands out or a token - not otherwise", "[daemon][rest][signed]") {
  RunningDaemon d;
  Api api{d};
  const auto viewer = make_token(api, admin_token(d), "player", "viewer");
  // An id with characters a file name cannot keep: its directory is %<hex>, which the URL
  // must encode.
  const std::string id = "meeting #1 ü";
  const std::string data = "0123456789 bytes of a meeting";
  const auto url = record_and_get_url(d, id, data);
  INFO(url);
  CHECK(url.starts_with("http://127.0.0.1:" + std::to_string(d.daemon->port()) + "/media/%25"));
  CHECK(url.find("exp=") != std::string::npos);
  CHECK(url.find("&kid=") != std::string::npos);
  CHECK(url.find("&sig=") != std::string::npos);

  auto whole = http_request("GET", url);
  CHECK(whole.status == 200);
  CHECK(whole.body == data);
  auto head = http_request("HEAD", url);
  CHECK(head.status == 200);
  CHECK(head.header("content-length") == std::to_string(data.size()));
  auto part = http_request("GET", url, {"Range: bytes=2-4"});
  CHECK(part.status == 206);
  CHECK(part.body == "234");

  std::string forged = url;
  forged.back() = forged.back() == 'A' ? 'B' : 'A';
  auto refused = http_request("GET", forged);
  CHECK(refused.status == 403);
  CHECK_THAT(error_message(refused), Catch::Contains("does not match"));
  const auto path_only = url.substr(0, url.find('?'));
  CHECK(http_request("GET", path_only).status == 401);
  CHECK(http_request("GET", path_only, {"Authorization: Bearer " + viewer}).body == data);
  CHECK(http_request("GET", path_only, {"Authorization: Bearer rec_AAAAAAAAAAAA_" + std::string(43, 'A')}).status == 401);

  // Seed 004's URL endpoint, by the id percent-encoded in the path.
  auto signed_answer = api.call("GET", "/api/recordings/meeting%20%231%20%C3%BC/url?expiry_hours=2", viewer);
  REQUIRE(signed_answer.status == 200);
  auto s = parse_json(signed_answer.body);
  CHECK(std::string(s["session_id"].GetString()) == id);
  CHECK(http_request("GET", s["signed_url"].GetString()).body == data);
  const auto expires = core::parse_iso8601(s["expires_at"].GetString());
  REQUIRE(expires);
  const auto hours = std::chrono::duration_cast<std::chrono::minutes>(*expires - std::chrono::system_clock::now());
  CHECK(hours > std::chrono::minutes{118});
  CHECK(hours <= std::chrono::minutes{120});
  REQUIRE(s["files"].Size() >= 1);
  CHECK(http_request("GET", s["files"][0]["signed_url"].GetString()).status == 200);
  // Recordings in answers carry a signed URL for their main file too.
  auto shown = parse_json(api.call("GET", "/api/recordings/meeting%20%231%20%C3%BC", viewer).body);
  CHECK(http_request("GET", shown["signed_url"].GetString()).body == data);

  CHECK_THAT(error_message(api.call("GET", "/api/recordings/meeting%20%231%20%C3%BC/url?expiry_hours=0", viewer)),
             Catch::Contains("expiry_hours: '0' is not a whole number of hours from 1 to 168 (media.max_url_hours)"));
  CHECK(api.call("GET", "/api/recordings/meeting%20%231%20%C3%BC/url?expiry_hours=169", viewer).status == 400);
  CHECK(api.call("GET", "/api/recordings/nobody/url", viewer).status == 404);

  // An id with a '/' is addressed with %2F; its media URL works like any other.
  const std::string slashed = "room 4/lecture";
  const auto slashed_url = record_and_get_url(d, slashed, data);
  CHECK(http_request("GET", slashed_url).body == data);
  auto by_slash = api.call("GET", "/api/recordings/room%204%2Flecture", viewer);
  REQUIRE(by_slash.status == 200);
  CHECK(std::string(parse_json(by_slash.body)["id"].GetString()) == slashed);
  CHECK(http_request("GET", parse_json(api.call("GET", "/api/recordings/room%204%2Flecture/url", viewer).body)["signed_url"]
                                .GetString())
            .body == data);
  CHECK(api.call("GET", "/api/recordings/room%204/lecture", viewer).status == 404);
}

TEST_CASE("URLs are built on server.public_url - signed keys rotate across restarts", "[daemon][rest][signed]") {
  {
    // Behind a proxy that strips /base: the signature covers the path recorderd serves.
    RunningDaemon d(Settings{{"server.public_url", "https://recorder.example.com/base/"}});
    const auto url = record_and_get_url(d, "proxied", "proxied bytes");
    CHECK(url.starts_with("https://recorder.example.com/base/media/proxied/"));
    CHECK(http_request("GET", with_port(url, d)).body == "proxied bytes");
  }
  TempDir data;
  std::string old_url;
  {
    RunningDaemon d({}, data.path());
    old_url = record_and_get_url(d, "before-rotation", "old key bytes");
  }
  const auto keys_file = data.path() / "media.keys";
  const std::string old_keys = read_file(keys_file);
  const std::string new_key = "k2 " + base64(std::string(32, 'z')).substr(0, 43) + "\n";
  {
    std::ofstream out(keys_file);
    out << new_key << old_keys;
  }
  std::string new_url;
  {
    RunningDaemon d({}, data.path());
    CHECK(http_request("GET", with_port(old_url, d)).body == "old key bytes");  // the old key still verifies
    new_url = record_and_get_url(d, "after-rotation", "new key bytes");
    CHECK(new_url.find("kid=k2") != std::string::npos);
    CHECK(http_request("GET", new_url).body == "new key bytes");
  }
  {
    std::ofstream out(keys_file);
    out << new_key;  // the old key removed: what it signed stops working
  }
  RunningDaemon d({}, data.path());
  auto gone = http_request("GET", with_port(old_url, d));
  CHECK(gone.status == 403);
  CHECK_THAT(error_message(gone), Catch::Contains("does not have (kid"));
  CHECK(http_request("GET", with_port(new_url, d)).body == "new key bytes");
}

TEST_CASE("auth.ingest = token: the dialects need an operator token - in the header or ?access_token=",
          "[daemon][rest][tokens]") {
  RunningDaemon d(Settings{{"auth.ingest", "token"}});
  Api api{d};
  const auto admin = admin_token(d);
  const auto viewer = make_token(api, admin, "screen", "viewer");
  const auto op = make_token(api, admin, "recorder page", "operator");
  const auto refused = [&](const std::string& path, const std::vector<std::pair<std::string, std::string>>& headers,
                           const std::string& status) {
    std::string error;
    auto c = WsClient::connect(d.url(path), error, std::chrono::seconds(5), headers);
    INFO(path << ": " << error);
    CHECK_FALSE(c);
    CHECK_THAT(error, Catch::Contains("(HTTP " + status + ")"));
  };
  for (const char* path : {"/ws/record", "/ws/session-1", "/rpc", "/ws/agent"}) {
    refused(path, {}, "401");
    refused(path, {{"Authorization", "Bearer rec_nope"}}, "401");
    refused(path, {{"Authorization", "Bearer " + viewer}}, "403");
  }
  std::string error;
  auto c = WsClient::connect(d.url("/ws/record"), error, std::chrono::seconds(5), {{"Authorization", "Bearer " + op}});
  INFO(error);
  REQUIRE(c);
  c->send_text(R"({"event":"start","data":{"recordId":"with-token"}})");
  CHECK(c->next_containing("\"started\""));
  auto by_query = WsClient::connect(d.url("/rpc?access_token=" + op), error);
  INFO(error);
  REQUIRE(by_query);
  by_query->send_text(R"({"jsonrpc":"2.0","method":"ping","id":1})");
  CHECK(by_query->next_containing("\"result\""));
  // HTTP routes are unchanged: the page and health stay open.
  CHECK(http_request("GET", api.url("/healthz")).status == 200);
  CHECK(http_request("GET", api.url("/")).status == 200);
}

TEST_CASE("an admin captures a URL that capture.allowed_urls names - nobody else - nothing else", "[daemon][rest][capture]") {
  TempDir media;
  const auto file = media.path() / "lecture.webm";
  REQUIRE(adapters::gstreamer::run_pipeline(
      "videotestsrc num-buffers=60 ! video/x-raw,width=320,height=240,framerate=30/1 ! vp8enc deadline=1 ! webmmux ! "
      "filesink location=" + file.string(),
      std::chrono::seconds(60)));
  RunningDaemon d(Settings{{"capture.allowed_urls", "file:///tmp/*;rtsp://cameras.example.com/*"}});
  Api api{d};
  const auto admin = admin_token(d);
  const auto op = make_token(api, admin, "scheduler", "operator");
  const std::string url = "file://" + file.string();

  auto by_operator = api.call("POST", "/api/recordings", op, R"({"kind":"capture","url":")" + url + R"("})");
  CHECK(by_operator.status == 403);
  CHECK_THAT(error_message(by_operator), Catch::Contains("capturing a URL needs the admin role"));
  for (const auto& [other, words] : std::vector<std::pair<std::string, std::string>>{
           {"rtsp://10.0.0.1/cam", "matches no capture.allowed_urls pattern"},
           {"file:///etc/passwd", "matches no capture.allowed_urls pattern"},
           {"rtsp://cameras.example.com/a\\\" ! filesink location=/tmp/x", "matches no capture.allowed_urls pattern"},
           {"http://169.254.169.254/latest", "matches no capture.allowed_urls pattern"}}) {
    INFO(other);
    auto refused = api.call("POST", "/api/recordings", admin, R"({"kind":"capture","url":")" + other + R"("})");
    CHECK(refused.status == 403);
    CHECK_THAT(error_message(refused), Catch::Contains(words));
  }
  CHECK(api.call("POST", "/api/recordings", admin, R"({"kind":"capture","url":")" + url + R"(","device":"x"})").status ==
        400);

  auto started = api.call("POST", "/api/recordings", admin, R"({"kind":"capture","url":")" + url + R"("})");
  REQUIRE(started.status == 201);
  const std::string id = parse_json(started.body)["id"].GetString();
  CHECK(std::string(parse_json(started.body)["device"].GetString()) == url);
  // GStreamer reads the file (not live: as fast as it can) until it ends: the capture holds
  // its segments and says why it stopped.
  const auto done = d.wait_finished(id, std::chrono::seconds(30));
  INFO(done.error);
  CHECK_THAT(done.error, Catch::Contains("ended the stream"));
  REQUIRE_FALSE(done.files.empty());
  CHECK(done.files.front().bytes > 0);
}
