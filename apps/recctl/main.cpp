// recctl — the admin CLI. It talks to recorderd over its HTTP API only (docs/protocol.md
// sections 5 and 6), like kubectl or LiveKit's lk: human tables by default, --json for
// scripts, and exit codes a script can act on.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iterator>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <rapidjson/document.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "http_client.hpp"
#include "version.hpp"

namespace {

using recctl::encode;
using recctl::HttpClient;
using recctl::Reply;

// Exit codes (docs/operations.md, "recctl").
enum Exit : int { kOk = 0, kError = 1, kUsage = 2, kNotFound = 3, kAuth = 4, kConflict = 5 };

int exit_for(long status) {
  if (status >= 200 && status < 300) return kOk;
  if (status == 401 || status == 403) return kAuth;
  if (status == 404) return kNotFound;
  if (status == 409) return kConflict;
  return kError;
}

struct Options {
  std::string server;
  std::string token;
  std::string token_file;
  bool json = false;
};

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// The token: --token, RECCTL_TOKEN, --token-file, else the admin token recorderd wrote at
// its first start ($RECORDER_SERVER_DATA_DIR or ./data, then admin.token).
std::string resolve_token(const Options& o) {
  if (!o.token.empty()) return o.token;
  if (auto t = env("RECCTL_TOKEN"); !t.empty()) return t;
  std::string file = o.token_file;
  if (file.empty()) {
    const auto dir = env("RECORDER_SERVER_DATA_DIR");
    file = (dir.empty() ? std::string("data") : dir) + "/admin.token";
  }
  std::ifstream in(file);
  std::string token;
  std::getline(in, token);
  while (!token.empty() && (token.back() == '\r' || token.back() == ' ')) token.pop_back();
  return token;
}

std::string text_of(const rapidjson::Value& v) {
  if (v.IsString()) return std::string(v.GetString(), v.GetStringLength());
  if (v.IsNull()) return "-";
  if (v.IsBool()) return v.GetBool() ? "yes" : "no";
  if (v.IsInt64()) return std::to_string(v.GetInt64());
  if (v.IsUint64()) return std::to_string(v.GetUint64());
  if (v.IsDouble()) return fmt::format("{:.1f}", v.GetDouble());
  rapidjson::StringBuffer b;
  rapidjson::Writer<rapidjson::StringBuffer> w(b);
  v.Accept(w);
  return b.GetString();
}

std::string field(const rapidjson::Value& obj, const char* name) {
  if (!obj.IsObject()) return "-";
  auto it = obj.FindMember(name);
  return it == obj.MemberEnd() ? "-" : text_of(it->value);
}

std::string human_bytes(const rapidjson::Value& obj, const char* name) {
  if (!obj.IsObject() || !obj.HasMember(name) || !obj[name].IsNumber()) return "-";
  double v = obj[name].GetDouble();
  static constexpr const char* kUnits[] = {"B", "KB", "MB", "GB", "TB"};
  int u = 0;
  while (v >= 1000 && u < 4) {
    v /= 1000;
    ++u;
  }
  return u == 0 ? fmt::format("{:.0f} B", v) : fmt::format("{:.1f} {}", v, kUnits[u]);
}

std::string human_seconds(const rapidjson::Value& obj, const char* name) {
  if (!obj.IsObject() || !obj.HasMember(name) || !obj[name].IsNumber()) return "-";
  const auto s = static_cast<long long>(obj[name].GetDouble());
  if (s >= 3600) return fmt::format("{}h{:02}m{:02}s", s / 3600, s / 60 % 60, s % 60);
  if (s >= 60) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}s", s);
}

void print_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width(header.size());
  for (std::size_t c = 0; c < header.size(); ++c) width[c] = header[c].size();
  for (const auto& row : rows)
    for (std::size_t c = 0; c < row.size() && c < width.size(); ++c) width[c] = std::max(width[c], row[c].size());
  const auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (std::size_t c = 0; c < cells.size(); ++c) {
      out += cells[c];
      if (c + 1 < cells.size()) out += std::string(width[c] - cells[c].size() + 2, ' ');
    }
    fmt::print("{}\n", out);
  };
  line(header);
  for (const auto& row : rows) line(row);
}

void print_json(const rapidjson::Value& v) {
  rapidjson::StringBuffer b;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> w(b);
  w.SetIndent(' ', 2);
  v.Accept(w);
  fmt::print("{}\n", b.GetString());
}

class Cli {
 public:
  explicit Cli(Options& o) : o_(o) {}

  // One API call: the parsed answer, or the exit code after the error was printed.
  std::optional<rapidjson::Document> call(const std::string& method, const std::string& path,
                                          const std::string& body = "") {
    const HttpClient client(o_.server, resolve_token(o_));
    const Reply r = client.request(method, path, body);
    if (r.status == 0) {
      fmt::print(stderr, "recctl: {}\n", r.error);
      exit_ = kError;
      return std::nullopt;
    }
    rapidjson::Document doc;
    doc.Parse(r.body.c_str(), r.body.size());
    if (r.status >= 300) {
      std::string message = r.body;
      if (!doc.HasParseError() && doc.IsObject() && doc.HasMember("error") && doc["error"].IsObject())
        message = field(doc["error"], "message");
      fmt::print(stderr, "recctl: {} {}: {} {}\n", method, path, r.status, message);
      if (r.status == 401 && resolve_token(o_).empty())
        fmt::print(stderr, "recctl: no token: pass --token, set RECCTL_TOKEN, or run where data/admin.token is\n");
      exit_ = exit_for(r.status);
      return std::nullopt;
    }
    if (doc.HasParseError()) {
      fmt::print(stderr, "recctl: {} {}: the answer is not JSON\n", method, path);
      exit_ = kError;
      return std::nullopt;
    }
    return doc;
  }

  int status() {
    const HttpClient client(o_.server, "");
    const Reply ready = client.request("GET", "/readyz");
    if (ready.status == 0) {
      fmt::print(stderr, "recctl: {}\n", ready.error);
      return kError;
    }
    rapidjson::Document r;
    r.Parse(ready.body.c_str(), ready.body.size());
    auto storage = call("GET", "/api/storage");
    if (!storage) return exit_;
    std::size_t live = 0;
    for (const char* state : {"starting", "recording", "interrupted", "stale", "stopping"}) {
      auto page = call("GET", fmt::format("/api/recordings?state={}&limit=1000", state));
      if (!page) return exit_;
      live += (*page)["recordings"].Size();
    }
    if (o_.json) {
      rapidjson::Document out(rapidjson::kObjectType);
      auto& a = out.GetAllocator();
      out.AddMember("server", rapidjson::Value(o_.server.c_str(), a), a);
      out.AddMember("ready", ready.status == 200, a);
      if (!r.HasParseError() && r.IsObject() && r.HasMember("reasons")) out.AddMember("reasons", rapidjson::Value(r["reasons"], a), a);
      out.AddMember("live_recordings", static_cast<std::uint64_t>(live), a);
      out.AddMember("storage", rapidjson::Value(*storage, a), a);
      print_json(out);
    } else {
      fmt::print("server:      {}\n", o_.server);
      fmt::print("ready:       {}\n", ready.status == 200 ? "yes" : "no");
      if (ready.status != 200 && !r.HasParseError() && r.IsObject() && r.HasMember("reasons"))
        for (const auto& reason : r["reasons"].GetArray()) fmt::print("  not ready: {}\n", text_of(reason));
      fmt::print("recording:   {} live\n", live);
      fmt::print("storage:     {} used of {} ({}%), level {}\n", human_bytes(*storage, "used_bytes"),
                 human_bytes(*storage, "total_bytes"), field(*storage, "used_percent"), field(*storage, "level"));
    }
    return ready.status == 200 ? kOk : kError;
  }

  struct ListFilters {
    std::string state, kind, device, agent, organizer, since, until;
    std::size_t limit = 50;
    bool all = false;
  };

  int list(const ListFilters& f) {
    std::string query = fmt::format("limit={}", f.limit);
    const auto add = [&](const char* name, const std::string& v) {
      if (!v.empty()) query += fmt::format("&{}={}", name, encode(v));
    };
    add("state", f.state);
    add("kind", f.kind);
    add("device", f.device);
    add("agent_id", f.agent);
    add("organizer", f.organizer);
    add("since", f.since);
    add("until", f.until);
    rapidjson::Document all(rapidjson::kArrayType);
    std::string cursor;
    do {
      auto page = call("GET", "/api/recordings?" + query + (cursor.empty() ? "" : "&cursor=" + cursor));
      if (!page) return exit_;
      for (auto& r : (*page)["recordings"].GetArray()) all.PushBack(rapidjson::Value(r, all.GetAllocator()), all.GetAllocator());
      cursor = (*page)["next_cursor"].IsString() ? (*page)["next_cursor"].GetString() : "";
    } while (f.all && !cursor.empty());
    if (o_.json) {
      print_json(all);
      return kOk;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& r : all.GetArray()) {
      const std::string what = field(r, "kind") == "capture" ? field(r, "device")
                               : field(r, "kind") == "agent" ? field(r, "subject") + " (" + field(r, "agent_id") + ")"
                                                             : field(r, "mime_type");
      rows.push_back({field(r, "id"), field(r, "kind"), field(r, "state"), field(r, "outcome"), field(r, "started_at"),
                      human_seconds(r, "elapsed_seconds"),
                      human_bytes(r, field(r, "kind") == "stream" ? "bytes" : "file_size_bytes"), what});
    }
    print_table({"ID", "KIND", "STATE", "OUTCOME", "STARTED", "ELAPSED", "BYTES", "WHAT"}, rows);
    if (!f.all && !cursor.empty()) fmt::print("(more: --all, or --limit)\n");
    return kOk;
  }

  int show(const std::string& id) {
    auto r = call("GET", "/api/recordings/" + encode(id));
    if (!r) return exit_;
    if (o_.json) {
      print_json(*r);
      return kOk;
    }
    print_recording(*r);
    return kOk;
  }

  int start_capture(const std::string& device, const std::string& format, unsigned duration, const std::string& session) {
    rapidjson::Document body(rapidjson::kObjectType);
    auto& a = body.GetAllocator();
    body.AddMember("kind", "capture", a);
    body.AddMember("device", rapidjson::Value(device.c_str(), a), a);
    if (!format.empty()) body.AddMember("format", rapidjson::Value(format.c_str(), a), a);
    if (duration > 0) body.AddMember("duration_seconds", duration, a);
    if (!session.empty()) body.AddMember("session_id", rapidjson::Value(session.c_str(), a), a);
    return created(body);
  }

  int start_agent(const std::string& agent, const std::string& subject, const std::string& organizer,
                  const std::string& start_time, unsigned expected, const std::string& session) {
    rapidjson::Document body(rapidjson::kObjectType);
    auto& a = body.GetAllocator();
    body.AddMember("kind", "agent", a);
    body.AddMember("agent_id", rapidjson::Value(agent.c_str(), a), a);
    body.AddMember("subject", rapidjson::Value(subject.c_str(), a), a);
    body.AddMember("organizer", rapidjson::Value(organizer.c_str(), a), a);
    body.AddMember("start_time", rapidjson::Value(start_time.c_str(), a), a);
    if (expected > 0) body.AddMember("duration_expected", expected, a);
    if (!session.empty()) body.AddMember("session_id", rapidjson::Value(session.c_str(), a), a);
    return created(body);
  }

  int stop(const std::string& id) {
    auto r = call("POST", "/api/recordings/" + encode(id) + "/stop");
    if (!r) return exit_;
    if (o_.json) print_json(*r);
    else fmt::print("stopped {}: {} ({})\n", field(*r, "id"), field(*r, "state"), field(*r, "stop_reason"));
    return kOk;
  }

  int remove(const std::string& id) {
    auto r = call("DELETE", "/api/recordings/" + encode(id));
    if (!r) return exit_;
    if (o_.json) print_json(*r);
    else fmt::print("deleted {}\n", field(*r, "recording_id"));
    return kOk;
  }

  int url(const std::string& id, unsigned hours) {
    auto r = call("GET", fmt::format("/api/recordings/{}/url?expiry_hours={}", encode(id), hours));
    if (!r) return exit_;
    if (o_.json) {
      print_json(*r);
      return kOk;
    }
    fmt::print("{}\n", field(*r, "signed_url"));
    fmt::print("expires {}\n", field(*r, "expires_at"));
    if ((*r)["files"].Size() > 1)
      for (const auto& f : (*r)["files"].GetArray()) fmt::print("  {}  {}\n", field(f, "name"), field(f, "signed_url"));
    return kOk;
  }

  int storage() {
    auto r = call("GET", "/api/storage");
    if (!r) return exit_;
    if (o_.json) {
      print_json(*r);
      return kOk;
    }
    print_table({"USED", "FREE", "TOTAL", "USED %", "LEVEL", "WARN %", "BLOCK %"},
                {{human_bytes(*r, "used_bytes"), human_bytes(*r, "free_bytes"), human_bytes(*r, "total_bytes"),
                  field(*r, "used_percent"), field(*r, "level"), field(*r, "warn_percent"), field(*r, "block_percent")}});
    return kOk;
  }

  int devices() {
    auto r = call("GET", "/api/devices");
    if (!r) return exit_;
    if (o_.json) {
      print_json(*r);
      return kOk;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& d : (*r)["devices"].GetArray())
      rows.push_back({field(d, "name"), field(d, "source"), field(d, "recording"), field(d, "recording_id")});
    print_table({"NAME", "SOURCE", "RECORDING", "RECORDING ID"}, rows);
    return kOk;
  }

  int agents() {
    auto r = call("GET", "/api/agents");
    if (!r) return exit_;
    if (o_.json) {
      print_json(*r);
      return kOk;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& g : (*r)["agents"].GetArray()) {
      const std::string last = field(g, "last_message") == "-" ? "-"
                                                              : field(g, "last_message") + " " + field(g, "last_message_at");
      const std::string status = field(g, "agent_status") == "-"
                                     ? "-"
                                     : fmt::format("{} {}/{}", field(g, "agent_status"), human_seconds(g, "elapsed"),
                                                   human_seconds(g, "remaining"));
      rows.push_back({field(g, "agent_id"), field(g, "connected_at"), last, field(g, "recording_id"),
                      field(g, "recording_state"), status});
    }
    print_table({"AGENT", "CONNECTED AT", "LAST MESSAGE", "RECORDING", "STATE", "STATUS (ELAPSED/REMAINING)"}, rows);
    return kOk;
  }

  // The instances on this database, their heartbeats and leases, and the leader.
  int cluster() {
    auto r = call("GET", "/api/cluster");
    if (!r) return exit_;
    if (o_.json) {
      print_json(*r);
      return kOk;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& i : (*r)["instances"].GetArray()) {
      std::string devices;
      for (const auto& d : i["devices"].GetArray()) devices += (devices.empty() ? "" : ",") + text_of(d);
      std::string id = field(i, "id");
      if (i["self"].IsTrue()) id += " (this)";
      const std::string beat = i.HasMember("heartbeat_age_seconds") && i["heartbeat_age_seconds"].IsNumber()
                                   ? fmt::format("{:.1f} s ago", i["heartbeat_age_seconds"].GetDouble())
                                   : "-";
      const std::string state = i["stopped"].IsTrue() ? "stopped" : i["alive"].IsTrue() ? "alive" : "silent";
      rows.push_back({id, field(i, "address"), state, beat, field(i, "leases"), i["leader"].IsTrue() ? "yes" : "",
                      devices.empty() ? "-" : devices});
    }
    print_table({"INSTANCE", "ADDRESS", "STATE", "HEARTBEAT", "LEASES", "LEADER", "DEVICES"}, rows);
    if ((*r)["clustered"].IsTrue())
      fmt::print("leader: {} (epoch {}, lease {:.1f} s left); unowned recordings: {}; lease: {} s\n",
                 field(*r, "leader"), field(*r, "leader_epoch"),
                 (*r)["leader_lease_left_seconds"].IsNumber() ? (*r)["leader_lease_left_seconds"].GetDouble() : 0.0,
                 field(*r, "unowned"), field(*r, "lease_seconds"));
    else
      fmt::print("one instance (store.backend = sqlite)\n");
    return kOk;
  }

  // Webhook endpoints and alert channels, and how their deliveries go.
  int webhooks() {
    auto r = call("GET", "/api/webhooks");
    if (!r) return exit_;
    if (o_.json) {
      print_json(*r);
      return kOk;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& w : (*r)["webhooks"].GetArray()) {
      const bool enabled = w.HasMember("enabled") && w["enabled"].IsBool() && w["enabled"].GetBool();
      rows.push_back({field(w, "name"), field(w, "source"), field(w, "url"), enabled ? "yes" : "no (410)",
                      field(w, "pending"), field(w, "delivered"), field(w, "failed_attempts"), field(w, "gave_up"),
                      field(w, "last_error")});
    }
    print_table({"NAME", "SOURCE", "URL", "ENABLED", "PENDING", "DELIVERED", "FAILED", "GAVE UP", "LAST ERROR"}, rows);
    return kOk;
  }

  // A recording's transitions; with `follow`, new ones as they come, until it is finished.
  int events(const std::string& id, bool follow) {
    std::size_t shown = 0;
    for (;;) {
      auto r = call("GET", "/api/recordings/" + encode(id) + "/events");
      if (!r) return exit_;
      const auto& list = (*r)["events"];
      for (std::size_t i = shown; i < list.Size(); ++i) {
        const auto& e = list[static_cast<rapidjson::SizeType>(i)];
        if (o_.json) {
          rapidjson::StringBuffer b;
          rapidjson::Writer<rapidjson::StringBuffer> w(b);
          e.Accept(w);
          fmt::print("{}\n", b.GetString());  // one JSON object per line while following
        } else {
          fmt::print("{}  {:<12} -> {:<12} {}{}{}\n", field(e, "at"), field(e, "from"), field(e, "to"), field(e, "event"),
                     field(e, "reason") == "none" ? "" : " reason=" + field(e, "reason"),
                     field(e, "detail").empty() ? "" : " " + field(e, "detail"));
        }
      }
      std::fflush(stdout);
      shown = list.Size();
      if (!follow) return kOk;
      auto now = call("GET", "/api/recordings/" + encode(id));
      if (!now) return exit_;
      const auto state = field(*now, "state");
      if (state == "ready" || state == "failed" || state == "deleted") return kOk;
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
  }

  int token_create(const std::string& name, const std::string& role) {
    rapidjson::Document body(rapidjson::kObjectType);
    auto& a = body.GetAllocator();
    body.AddMember("name", rapidjson::Value(name.c_str(), a), a);
    body.AddMember("role", rapidjson::Value(role.c_str(), a), a);
    auto r = call("POST", "/api/tokens", serialize(body));
    if (!r) return exit_;
    if (o_.json) {
      print_json(*r);
      return kOk;
    }
    fmt::print("{}\n", field(*r, "token"));
    fmt::print(stderr, "token {} ({}, {}): shown once, keep it secret\n", field(*r, "id"), field(*r, "name"), field(*r, "role"));
    return kOk;
  }

  int token_list() {
    auto r = call("GET", "/api/tokens");
    if (!r) return exit_;
    if (o_.json) {
      print_json(*r);
      return kOk;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& t : (*r)["tokens"].GetArray())
      rows.push_back({field(t, "id"), field(t, "name"), field(t, "role"), field(t, "created_at"), field(t, "last_used_at"),
                      field(t, "revoked_at")});
    print_table({"ID", "NAME", "ROLE", "CREATED", "LAST USED", "REVOKED"}, rows);
    return kOk;
  }

  int token_revoke(const std::string& id) {
    auto r = call("DELETE", "/api/tokens/" + encode(id));
    if (!r) return exit_;
    if (o_.json) print_json(*r);
    else fmt::print("revoked {}\n", id);
    return kOk;
  }

 private:
  static std::string serialize(const rapidjson::Value& v) {
    rapidjson::StringBuffer b;
    rapidjson::Writer<rapidjson::StringBuffer> w(b);
    v.Accept(w);
    return b.GetString();
  }

  int created(const rapidjson::Document& body) {
    auto r = call("POST", "/api/recordings", serialize(body));
    if (!r) return exit_;
    if (o_.json) print_json(*r);
    else fmt::print("started {} ({}, {})\n", field(*r, "id"), field(*r, "kind"), field(*r, "state"));
    return kOk;
  }

  static void print_recording(const rapidjson::Value& r) {
    for (const char* name : {"id", "session_id", "kind", "state", "status", "outcome", "stop_reason", "subject",
                             "organizer", "owner", "device", "agent_id", "format", "created_at", "started_at",
                             "stopped_at", "finalized_at", "duration_seconds", "chunks", "missing_chunks",
                             "current_file", "agent_status", "elapsed", "remaining", "agent_timestamp",
                             "video_url", "file_size", "error"}) {
      const auto v = field(r, name);
      if (v == "-" || v.empty() || v == "[]") continue;
      fmt::print("{:<17}{}\n", std::string(name) + ":", v);
    }
    fmt::print("{:<17}{}\n", "elapsed:", human_seconds(r, "elapsed_seconds"));
    fmt::print("{:<17}{}\n", "bytes:", human_bytes(r, field(r, "kind") == "stream" ? "bytes" : "file_size_bytes"));
    if (r.HasMember("files") && r["files"].IsArray())
      for (const auto& f : r["files"].GetArray())
        fmt::print("file:            {} ({}, {})\n", field(f, "name"), field(f, "role"), human_bytes(f, "bytes"));
  }

  Options& o_;
  int exit_ = kOk;
};

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App cli{"recctl: administer a recorderd server over its HTTP API"};
  cli.require_subcommand(0, 1);
  bool version = false;
  cli.add_flag("-V,--version", version, "print the version and exit");
  o.server = env("RECCTL_SERVER").empty() ? "http://127.0.0.1:8080" : env("RECCTL_SERVER");
  cli.add_option("-s,--server", o.server, "recorderd's base URL (default: $RECCTL_SERVER, else http://127.0.0.1:8080)");
  cli.add_option("-t,--token", o.token, "API token (default: $RECCTL_TOKEN, else the token file)");
  cli.add_option("--token-file", o.token_file,
                 "file holding the token (default: $RECORDER_SERVER_DATA_DIR/admin.token, else data/admin.token)");
  cli.add_flag("--json", o.json, "print recorderd's JSON answers instead of tables");
  cli.footer(
      "Exit codes: 0 ok, 1 error (unreachable, bad input, server error), 2 usage, 3 not found, 4 no or bad token or "
      "role too low, 5 conflict (a device already recording, a live recording deleted).");

  Cli run(o);
  std::function<int()> action;

  cli.add_subcommand("status", "is recorderd ready; live recordings; storage")->callback([&] { action = [&] { return run.status(); }; });

  Cli::ListFilters filters;
  auto* list = cli.add_subcommand("list", "recordings, newest first");
  list->add_option("--state", filters.state, "starting, recording, interrupted, stale, stopping, finalizing, processing, ready, failed, deleted");
  list->add_option("--kind", filters.kind, "stream, agent or capture");
  list->add_option("--device", filters.device, "a capture device");
  list->add_option("--agent", filters.agent, "an agent id");
  list->add_option("--organizer", filters.organizer, "an organizer");
  list->add_option("--since", filters.since, "created at or after (ISO 8601)");
  list->add_option("--until", filters.until, "created before (ISO 8601)");
  list->add_option("--limit", filters.limit, "at most this many per page (1-1000, default 50)")->check(CLI::Range(1, 1000));
  list->add_flag("--all", filters.all, "follow every page");
  list->callback([&] { action = [&] { return run.list(filters); }; });

  std::string id;
  auto* show = cli.add_subcommand("show", "one recording, by id or session_id");
  show->add_option("id", id, "recording id or session_id")->required();
  show->callback([&] { action = [&] { return run.show(id); }; });

  auto* start = cli.add_subcommand("start", "start a capture or an agent recording (operator)");
  start->require_subcommand(1);
  std::string device, format, session, agent, subject, organizer, start_time;
  unsigned duration = 0, expected = 0;
  auto* capture = start->add_subcommand("capture", "record a configured device");
  capture->add_option("device", device, "the device's name (recctl devices)")->required();
  capture->add_option("--format", format, "mp4 (the default)");
  capture->add_option("--duration", duration, "stop after this many seconds");
  capture->add_option("--session-id", session, "your own key for the recording");
  capture->callback([&] { action = [&] { return run.start_capture(device, format, duration, session); }; });
  auto* agent_start = start->add_subcommand("agent", "ask a meeting-room agent to record");
  agent_start->add_option("--agent", agent, "the agent's id")->required();
  agent_start->add_option("--subject", subject, "the meeting's subject")->required();
  agent_start->add_option("--organizer", organizer, "the meeting's organizer")->required();
  agent_start->add_option("--start-time", start_time, "the meeting's start (ISO 8601)")->required();
  agent_start->add_option("--expected", expected, "expected duration in seconds");
  agent_start->add_option("--session-id", session, "your own key for the recording");
  agent_start->callback([&] { action = [&] { return run.start_agent(agent, subject, organizer, start_time, expected, session); }; });

  auto* stop = cli.add_subcommand("stop", "stop a recording (operator); waits until it has stopped");
  stop->add_option("id", id, "recording id or session_id")->required();
  stop->callback([&] { action = [&] { return run.stop(id); }; });

  auto* del = cli.add_subcommand("delete", "delete a finished recording's media (admin)");
  del->add_option("id", id, "recording id or session_id")->required();
  del->callback([&] { action = [&] { return run.remove(id); }; });

  unsigned hours = 24;
  auto* url = cli.add_subcommand("url", "a signed URL to the recording's file");
  url->add_option("id", id, "recording id or session_id")->required();
  url->add_option("--hours", hours, "how long the URL works (default 24)");
  url->callback([&] { action = [&] { return run.url(id, hours); }; });

  cli.add_subcommand("storage", "disk use and the storage guard's thresholds")->callback([&] { action = [&] { return run.storage(); }; });
  cli.add_subcommand("devices", "configured capture devices")->callback([&] { action = [&] { return run.devices(); }; });
  cli.add_subcommand("agents", "connected agents")->callback([&] { action = [&] { return run.agents(); }; });
  cli.add_subcommand("cluster", "the instances on this database, their heartbeats and leases, the leader")
      ->callback([&] { action = [&] { return run.cluster(); }; });
  cli.add_subcommand("webhooks", "webhook endpoints and alert channels, with their health (admin)")
      ->callback([&] { action = [&] { return run.webhooks(); }; });

  bool follow = false;
  auto* events = cli.add_subcommand("events", "a recording's transitions, oldest first");
  events->add_option("id", id, "recording id or session_id")->required();
  events->add_flag("-f,--follow", follow, "keep printing new ones until the recording is finished");
  events->callback([&] { action = [&] { return run.events(id, follow); }; });

  auto* token = cli.add_subcommand("token", "API tokens (admin)");
  token->require_subcommand(1);
  std::string name, role, token_id;
  auto* create = token->add_subcommand("create", "make a token; its secret is printed once");
  create->add_option("name", name, "who or what uses it")->required();
  create->add_option("--role", role, "viewer, operator or admin")->required()->check(CLI::IsMember({"viewer", "operator", "admin"}));
  create->callback([&] { action = [&] { return run.token_create(name, role); }; });
  token->add_subcommand("list", "every token, without secrets")->callback([&] { action = [&] { return run.token_list(); }; });
  auto* revoke = token->add_subcommand("revoke", "revoke a token by its id");
  revoke->add_option("id", token_id, "the token's id (recctl token list)")->required();
  revoke->callback([&] { action = [&] { return run.token_revoke(token_id); }; });

  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = cli.exit(e);
    return rc == 0 ? kOk : kUsage;
  }
  if (version) {
    fmt::print("recctl {}\n", RECORDERD_VERSION);
    return kOk;
  }
  if (!action) {
    fmt::print("{}", cli.help());
    return kUsage;
  }
  return action();
}
