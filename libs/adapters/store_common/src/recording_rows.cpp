#include "recorder/adapters/store_common/recording_rows.hpp"

#include <algorithm>
#include <array>
#include <charconv>

#include <fmt/format.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace recorder::adapters::store_common {
namespace {

using core::Errc;
using core::Recording;
using core::Result;
using enum ColumnType;

constexpr std::array kRecordingColumns{
    Column{"id", text},
    Column{"kind", text},
    Column{"subject", text},
    Column{"organizer", text},
    Column{"owner", text},
    Column{"device", text},
    Column{"agent_id", text},
    Column{"agent_start_time", text},
    Column{"agent_key", text},
    Column{"mime_type", text},
    Column{"format", text},
    Column{"expected_duration_s", integer},
    Column{"remote_triggered", integer},
    Column{"limit_max_duration_s", integer},
    Column{"limit_max_chunk_bytes", integer},
    Column{"limit_max_total_bytes", integer},
    Column{"limit_max_index_gap", integer},
    Column{"state", text},
    Column{"stop_reason", text},
    Column{"status", text},
    Column{"created_at", integer},
    Column{"started_at", integer},
    Column{"last_activity_at", integer},
    Column{"stopped_at", integer},
    Column{"finalized_at", integer},
    Column{"ledger", text},
    Column{"chunk_count", integer},
    Column{"total_bytes", integer},
    Column{"missing_chunks", text},
    Column{"files", text},
    Column{"duration_seconds", real},
    Column{"start_attempts", integer},
    Column{"error", text},
    Column{"current_file", text},
    Column{"session_id", text},
    Column{"agent_status", text},
    Column{"agent_elapsed", real},
    Column{"agent_remaining", real},
    Column{"agent_timestamp", text},
    Column{"video_url", text},
    Column{"video_file_size", integer},
    Column{"notify", text},
    Column{"revision", integer},
    Column{"lease_instance", text},
    Column{"lease_epoch", integer},
};

constexpr std::array kEventColumns{
    Column{"recording_id", text}, Column{"at", integer},     Column{"from_state", text}, Column{"to_state", text},
    Column{"event", text},        Column{"reason", text},    Column{"detail", text},
};

constexpr std::string_view kLiveStates = "('starting','recording','interrupted','stale','stopping')";
constexpr std::string_view kTerminalStates = "('ready','failed','deleted')";

constexpr std::array kMigrations{
    Migration{1, "recordings, their event log, schema versions",
              R"sql(
CREATE TABLE recordings (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  subject TEXT NOT NULL,
  organizer TEXT NOT NULL,
  owner TEXT NOT NULL,
  device TEXT NOT NULL,
  agent_id TEXT NOT NULL,
  agent_start_time TEXT NOT NULL,
  agent_key TEXT NOT NULL,
  mime_type TEXT NOT NULL,
  format TEXT NOT NULL,
  expected_duration_s INTEGER,
  remote_triggered INTEGER NOT NULL,
  limit_max_duration_s INTEGER NOT NULL,
  limit_max_chunk_bytes INTEGER NOT NULL,
  limit_max_total_bytes INTEGER NOT NULL,
  limit_max_index_gap INTEGER NOT NULL,
  state TEXT NOT NULL,
  stop_reason TEXT NOT NULL,
  status TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  started_at INTEGER,
  last_activity_at INTEGER,
  stopped_at INTEGER,
  finalized_at INTEGER,
  ledger TEXT NOT NULL,
  chunk_count INTEGER NOT NULL,
  total_bytes INTEGER NOT NULL,
  missing_chunks TEXT NOT NULL,
  files TEXT NOT NULL,
  duration_seconds REAL,
  start_attempts INTEGER NOT NULL,
  error TEXT NOT NULL
);
CREATE INDEX recordings_state ON recordings (state);
CREATE INDEX recordings_device ON recordings (device);
CREATE INDEX recordings_agent_key ON recordings (agent_key);
CREATE INDEX recordings_created_at ON recordings (created_at);
CREATE TABLE recording_events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  recording_id TEXT NOT NULL,
  at INTEGER NOT NULL,
  from_state TEXT NOT NULL,
  to_state TEXT NOT NULL,
  event TEXT NOT NULL,
  reason TEXT NOT NULL,
  detail TEXT NOT NULL
);
CREATE INDEX recording_events_recording ON recording_events (recording_id, seq);
)sql",
              R"sql(
CREATE TABLE recordings (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  subject TEXT NOT NULL,
  organizer TEXT NOT NULL,
  owner TEXT NOT NULL,
  device TEXT NOT NULL,
  agent_id TEXT NOT NULL,
  agent_start_time TEXT NOT NULL,
  agent_key TEXT NOT NULL,
  mime_type TEXT NOT NULL,
  format TEXT NOT NULL,
  expected_duration_s BIGINT,
  remote_triggered BIGINT NOT NULL,
  limit_max_duration_s BIGINT NOT NULL,
  limit_max_chunk_bytes BIGINT NOT NULL,
  limit_max_total_bytes BIGINT NOT NULL,
  limit_max_index_gap BIGINT NOT NULL,
  state TEXT NOT NULL,
  stop_reason TEXT NOT NULL,
  status TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  started_at BIGINT,
  last_activity_at BIGINT,
  stopped_at BIGINT,
  finalized_at BIGINT,
  ledger TEXT NOT NULL,
  chunk_count BIGINT NOT NULL,
  total_bytes BIGINT NOT NULL,
  missing_chunks TEXT NOT NULL,
  files TEXT NOT NULL,
  duration_seconds DOUBLE PRECISION,
  start_attempts BIGINT NOT NULL,
  error TEXT NOT NULL
);
CREATE INDEX recordings_state ON recordings (state);
CREATE INDEX recordings_device ON recordings (device);
CREATE INDEX recordings_agent_key ON recordings (agent_key);
CREATE INDEX recordings_created_at ON recordings (created_at);
CREATE TABLE recording_events (
  seq BIGSERIAL PRIMARY KEY,
  recording_id TEXT NOT NULL,
  at BIGINT NOT NULL,
  from_state TEXT NOT NULL,
  to_state TEXT NOT NULL,
  event TEXT NOT NULL,
  reason TEXT NOT NULL,
  detail TEXT NOT NULL
);
CREATE INDEX recording_events_recording ON recording_events (recording_id, seq);
)sql"},
    Migration{2, "the transactional outbox and who was handed what; a capture's current file",
              R"sql(
ALTER TABLE recordings ADD COLUMN current_file TEXT NOT NULL DEFAULT '';
CREATE TABLE outbox (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  type TEXT NOT NULL,
  recording_id TEXT,
  at INTEGER NOT NULL,
  payload TEXT NOT NULL
);
CREATE INDEX outbox_recording ON outbox (recording_id, seq);
CREATE TABLE outbox_subscribers (
  name TEXT PRIMARY KEY,
  since_seq INTEGER NOT NULL
);
CREATE TABLE outbox_deliveries (
  subscriber TEXT NOT NULL,
  seq INTEGER NOT NULL,
  delivered_at INTEGER NOT NULL,
  PRIMARY KEY (subscriber, seq)
);
)sql",
              R"sql(
ALTER TABLE recordings ADD COLUMN current_file TEXT NOT NULL DEFAULT '';
CREATE TABLE outbox (
  seq BIGSERIAL PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  type TEXT NOT NULL,
  recording_id TEXT,
  at BIGINT NOT NULL,
  payload TEXT NOT NULL
);
CREATE INDEX outbox_recording ON outbox (recording_id, seq);
CREATE TABLE outbox_subscribers (
  name TEXT PRIMARY KEY,
  since_seq BIGINT NOT NULL
);
CREATE TABLE outbox_deliveries (
  subscriber TEXT NOT NULL,
  seq BIGINT NOT NULL,
  delivered_at BIGINT NOT NULL,
  PRIMARY KEY (subscriber, seq)
);
)sql"},
    Migration{3, "API tokens (hashed); recordings paged by (created_at, id) and found by the caller's session_id",
              R"sql(
CREATE TABLE api_tokens (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  role TEXT NOT NULL,
  secret_hash TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  last_used_at INTEGER,
  revoked_at INTEGER
);
CREATE INDEX recordings_created_id ON recordings (created_at, id);
ALTER TABLE recordings ADD COLUMN session_id TEXT NOT NULL DEFAULT '';
CREATE INDEX recordings_session_id ON recordings (session_id);
)sql",
              R"sql(
CREATE TABLE api_tokens (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  role TEXT NOT NULL,
  secret_hash TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  last_used_at BIGINT,
  revoked_at BIGINT
);
CREATE INDEX recordings_created_id ON recordings (created_at, id);
ALTER TABLE recordings ADD COLUMN session_id TEXT NOT NULL DEFAULT '';
CREATE INDEX recordings_session_id ON recordings (session_id);
)sql"},
    Migration{4, "agent recordings keep the agent's last status and its uploaded video",
              R"sql(
ALTER TABLE recordings ADD COLUMN agent_status TEXT NOT NULL DEFAULT '';
ALTER TABLE recordings ADD COLUMN agent_elapsed REAL;
ALTER TABLE recordings ADD COLUMN agent_remaining REAL;
ALTER TABLE recordings ADD COLUMN agent_timestamp TEXT NOT NULL DEFAULT '';
ALTER TABLE recordings ADD COLUMN video_url TEXT NOT NULL DEFAULT '';
ALTER TABLE recordings ADD COLUMN video_file_size INTEGER;
)sql",
              R"sql(
ALTER TABLE recordings ADD COLUMN agent_status TEXT NOT NULL DEFAULT '';
ALTER TABLE recordings ADD COLUMN agent_elapsed DOUBLE PRECISION;
ALTER TABLE recordings ADD COLUMN agent_remaining DOUBLE PRECISION;
ALTER TABLE recordings ADD COLUMN agent_timestamp TEXT NOT NULL DEFAULT '';
ALTER TABLE recordings ADD COLUMN video_url TEXT NOT NULL DEFAULT '';
ALTER TABLE recordings ADD COLUMN video_file_size BIGINT;
)sql"},
    Migration{5, "inbound webhooks taken, by webhook-id; who is told a recording is ready; webhook endpoints added over REST",
              R"sql(
CREATE TABLE inbound_hooks (
  webhook_id TEXT PRIMARY KEY,
  type TEXT NOT NULL,
  recording_id TEXT NOT NULL,
  taken_at INTEGER NOT NULL
);
ALTER TABLE recordings ADD COLUMN notify TEXT NOT NULL DEFAULT '';
CREATE TABLE webhook_endpoints (
  name TEXT PRIMARY KEY,
  url TEXT NOT NULL,
  secrets TEXT NOT NULL,
  events TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
)sql",
              R"sql(
CREATE TABLE inbound_hooks (
  webhook_id TEXT PRIMARY KEY,
  type TEXT NOT NULL,
  recording_id TEXT NOT NULL,
  taken_at BIGINT NOT NULL
);
ALTER TABLE recordings ADD COLUMN notify TEXT NOT NULL DEFAULT '';
CREATE TABLE webhook_endpoints (
  name TEXT PRIMARY KEY,
  url TEXT NOT NULL,
  secrets TEXT NOT NULL,
  events TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
)sql"},
    Migration{6, "a recording's revision: which of two copies of it is newer",
              R"sql(
ALTER TABLE recordings ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
)sql",
              R"sql(
ALTER TABLE recordings ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;
)sql"},
    // SQLite serves one instance: it keeps who holds a recording, but nothing expires.
    Migration{7, "cluster: a lease per unfinished recording, the instances and the leader",
              R"sql(
ALTER TABLE recordings ADD COLUMN lease_instance TEXT NOT NULL DEFAULT '';
ALTER TABLE recordings ADD COLUMN lease_epoch INTEGER NOT NULL DEFAULT 0;
)sql",
              R"sql(
ALTER TABLE recordings ADD COLUMN lease_instance TEXT NOT NULL DEFAULT '';
ALTER TABLE recordings ADD COLUMN lease_epoch BIGINT NOT NULL DEFAULT 0;
ALTER TABLE recordings ADD COLUMN lease_until TIMESTAMPTZ;
CREATE INDEX recordings_lease_until ON recordings (lease_until) WHERE lease_until IS NOT NULL;
CREATE TABLE cluster_instances (
  id TEXT PRIMARY KEY,
  incarnation TEXT NOT NULL,
  address TEXT NOT NULL DEFAULT '',
  devices TEXT NOT NULL DEFAULT '',
  started_at TIMESTAMPTZ NOT NULL,
  heartbeat_at TIMESTAMPTZ NOT NULL,
  stopped_at TIMESTAMPTZ
);
CREATE TABLE cluster_leader (
  name TEXT PRIMARY KEY,
  instance TEXT NOT NULL,
  epoch BIGINT NOT NULL,
  lease_until TIMESTAMPTZ NOT NULL
);
)sql"},
    // Commands between instances (ADR 0018); SQLite serves one instance and has none.
    Migration{8, "cluster: commands from one instance to another (stop, hand over)", R"sql(
SELECT 1;
)sql",
              R"sql(
CREATE TABLE cluster_commands (
  seq BIGSERIAL PRIMARY KEY,
  target TEXT NOT NULL,
  sender TEXT NOT NULL,
  kind TEXT NOT NULL,
  recording_id TEXT NOT NULL,
  epoch BIGINT NOT NULL,
  argument TEXT NOT NULL DEFAULT '',
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  expires_at TIMESTAMPTZ NOT NULL,
  answered_at TIMESTAMPTZ,
  outcome TEXT,
  message TEXT
);
CREATE INDEX cluster_commands_open ON cluster_commands (target) WHERE answered_at IS NULL;
)sql"},
    // One live capture per device across every instance (SQLite's one instance checks it
    // in memory).
    Migration{9, "cluster: one live capture per device", R"sql(
SELECT 1;
)sql",
              R"sql(
CREATE UNIQUE INDEX recordings_one_live_capture_per_device ON recordings (device)
  WHERE kind = 'capture' AND state NOT IN ('ready', 'failed', 'deleted');
)sql"},
};

Value optional_int(const std::optional<std::int64_t>& v) { return v ? Value{*v} : Value{}; }
Value optional_time(const std::optional<core::WallTime>& t) { return t ? Value{to_micros(*t)} : Value{}; }

std::string join_indices(const std::vector<core::ChunkIndex>& v) { return fmt::format("{}", fmt::join(v, ",")); }

std::string encode_ledger(const core::ChunkLedger& l) {
  std::string out;
  for (const auto& [first, last] : l.intervals()) {
    if (!out.empty()) out += ',';
    out += fmt::format("{}-{}", first, last);
  }
  return out;
}

std::string encode_files(const std::vector<core::MediaFile>& files) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  w.StartArray();
  for (const auto& f : files) {
    w.StartObject();
    w.Key("path");
    w.String(f.path.c_str(), static_cast<rapidjson::SizeType>(f.path.size()));
    w.Key("role");
    const auto role = core::to_string(f.role);
    w.String(role.data(), static_cast<rapidjson::SizeType>(role.size()));
    w.Key("bytes");
    w.Uint64(f.bytes);
    if (f.duration_seconds) {
      w.Key("duration_seconds");
      w.Double(*f.duration_seconds);
    }
    w.EndObject();
  }
  w.EndArray();
  return buffer.GetString();
}

// Reading back: each helper names the column that did not hold what it should.
struct Reader {
  const Row& row;
  std::string error;

  std::size_t at(std::string_view name) const {
    for (std::size_t i = 0; i < kRecordingColumns.size(); ++i) {
      if (kRecordingColumns[i].name == name) return i;
    }
    return 0;
  }
  const Value& value(std::string_view name) const { return row.at(at(name)); }

  std::string text(std::string_view name) {
    if (const auto* s = std::get_if<std::string>(&value(name))) return *s;
    if (std::holds_alternative<std::monostate>(value(name))) return {};
    fail(name, "is not text");
    return {};
  }
  std::optional<std::int64_t> optional_int(std::string_view name) {
    const Value& v = value(name);
    if (const auto* i = std::get_if<std::int64_t>(&v)) return *i;
    if (!std::holds_alternative<std::monostate>(v)) fail(name, "is not an integer");
    return std::nullopt;
  }
  std::int64_t integer(std::string_view name) {
    auto v = optional_int(name);
    if (!v) fail(name, "is NULL");
    return v.value_or(0);
  }
  std::uint64_t count(std::string_view name) {
    const auto v = integer(name);
    if (v < 0) fail(name, "is negative");
    return static_cast<std::uint64_t>(v);
  }
  std::optional<core::WallTime> time(std::string_view name) {
    auto v = optional_int(name);
    return v ? std::optional{from_micros(*v)} : std::nullopt;
  }
  std::optional<double> real(std::string_view name) {
    const Value& v = value(name);
    if (const auto* d = std::get_if<double>(&v)) return *d;
    if (const auto* i = std::get_if<std::int64_t>(&v)) return static_cast<double>(*i);
    return std::nullopt;
  }
  template <typename E>
  E parsed(std::string_view name, std::optional<E> (*parse)(std::string_view)) {
    const std::string t = text(name);
    auto v = parse(t);
    if (!v) fail(name, fmt::format("holds an unknown value '{}'", t));
    return v.value_or(E{});
  }
  void fail(std::string_view name, std::string_view what) {
    if (error.empty()) error = fmt::format("column {} {}", name, what);
  }
};

bool parse_u64(std::string_view s, std::uint64_t& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && p == s.data() + s.size();
}

bool decode_ledger(std::string_view text, core::ChunkLedger& ledger, std::uint64_t total_bytes, std::uint64_t count) {
  // Bytes are kept per recording, not per chunk: spread them so the totals read back.
  std::vector<std::pair<core::ChunkIndex, core::ChunkIndex>> intervals;
  while (!text.empty()) {
    const auto comma = text.find(',');
    const std::string_view part = text.substr(0, comma);
    const auto dash = part.find('-');
    std::uint64_t first = 0;
    std::uint64_t last = 0;
    if (dash == std::string_view::npos || !parse_u64(part.substr(0, dash), first) ||
        !parse_u64(part.substr(dash + 1), last) || last <= first)
      return false;
    intervals.emplace_back(first, last);
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
  }
  std::uint64_t held = 0;
  for (const auto& [first, last] : intervals) held += last - first;
  if (held != count) return false;
  std::uint64_t left = total_bytes;
  std::uint64_t n = 0;
  for (const auto& [first, last] : intervals) {
    for (core::ChunkIndex i = first; i < last; ++i) {
      const std::uint64_t share = ++n == count ? left : total_bytes / count;
      ledger.add(i, share);
      left -= share;
    }
  }
  return true;
}

bool decode_indices(std::string_view text, std::vector<core::ChunkIndex>& out) {
  while (!text.empty()) {
    const auto comma = text.find(',');
    std::uint64_t v = 0;
    if (!parse_u64(text.substr(0, comma), v)) return false;
    out.push_back(v);
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
  }
  return true;
}

bool decode_files(const std::string& text, std::vector<core::MediaFile>& out) {
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseIterativeFlag>(text.c_str(), text.size());
  if (doc.HasParseError() || !doc.IsArray()) return false;
  for (const auto& f : doc.GetArray()) {
    if (!f.IsObject() || !f.HasMember("path") || !f["path"].IsString() || !f.HasMember("role") ||
        !f["role"].IsString() || !f.HasMember("bytes") || !f["bytes"].IsUint64())
      return false;
    core::MediaFile file;
    file.path = f["path"].GetString();
    const std::string_view role = f["role"].GetString();
    if (role == "original") file.role = core::FileRole::original;
    else if (role == "converted") file.role = core::FileRole::converted;
    else if (role == "segment") file.role = core::FileRole::segment;
    else return false;
    file.bytes = f["bytes"].GetUint64();
    if (f.HasMember("duration_seconds") && f["duration_seconds"].IsNumber())
      file.duration_seconds = f["duration_seconds"].GetDouble();
    out.push_back(std::move(file));
  }
  return true;
}

std::string column_list(std::span<const Column> columns) {
  std::string out;
  for (const auto& c : columns) {
    if (!out.empty()) out += ", ";
    out += c.name;
  }
  return out;
}

std::string placeholders(Dialect d, std::size_t n) {
  std::string out;
  for (std::size_t i = 1; i <= n; ++i) {
    if (i > 1) out += ", ";
    out += placeholder(d, static_cast<int>(i));
  }
  return out;
}

}  // namespace

std::span<const Migration> migrations() { return kMigrations; }
std::span<const Column> recording_columns() { return kRecordingColumns; }
std::span<const Column> event_columns() { return kEventColumns; }

std::int64_t to_micros(core::WallTime t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}
core::WallTime from_micros(std::int64_t us) {
  return core::WallTime{std::chrono::duration_cast<core::WallTime::duration>(std::chrono::microseconds{us})};
}

std::string placeholder(Dialect d, int n) { return d == Dialect::sqlite ? fmt::format("?{}", n) : fmt::format("${}", n); }

Row to_row(const Recording& r) {
  const auto count = [](std::uint64_t v) { return static_cast<std::int64_t>(v); };
  return Row{
      r.id,
      std::string(core::to_string(r.kind)),
      r.meta.subject,
      r.meta.organizer,
      r.meta.owner,
      r.meta.device,
      r.meta.agent_id,
      r.meta.start_time,
      r.kind == core::SourceKind::agent ? core::agent_key(r.meta) : std::string{},
      r.meta.mime_type,
      r.format,
      optional_int(r.expected_duration ? std::optional<std::int64_t>{r.expected_duration->count()} : std::nullopt),
      std::int64_t{r.remote_triggered ? 1 : 0},
      std::int64_t{r.limits.max_duration.count()},
      count(r.limits.max_chunk_bytes),
      count(r.limits.max_total_bytes),
      count(r.limits.max_index_gap),
      std::string(core::to_string(r.state)),
      std::string(core::to_string(r.stop_reason)),
      std::string(core::to_string(r.outcome)),
      to_micros(r.created_at),
      optional_time(r.started_at),
      optional_time(r.last_activity_at),
      optional_time(r.stopped_at),
      optional_time(r.finalized_at),
      encode_ledger(r.ledger),
      count(r.ledger.chunk_count()),
      count(r.ledger.total_bytes()),
      join_indices(r.missing_chunks),
      encode_files(r.files),
      r.duration_seconds ? Value{*r.duration_seconds} : Value{},
      std::int64_t{r.start_attempts},
      r.error,
      r.current_file,
      r.meta.session_id,
      r.agent.status,
      r.agent.elapsed ? Value{*r.agent.elapsed} : Value{},
      r.agent.remaining ? Value{*r.agent.remaining} : Value{},
      r.agent.timestamp,
      r.video.url,
      r.video.file_size ? Value{count(*r.video.file_size)} : Value{},
      fmt::format("{}", fmt::join(r.meta.notify, ",")),
      count(r.revision),
      r.lease.instance,
      count(r.lease.epoch),
  };
}

Result<Recording> from_row(const Row& row) {
  if (row.size() != kRecordingColumns.size())
    return core::fail(Errc::internal, fmt::format("a recordings row has {} columns, expected {}", row.size(),
                                                  kRecordingColumns.size()));
  Reader in{row, {}};
  Recording r;
  r.id = in.text("id");
  r.kind = in.parsed<core::SourceKind>("kind", core::parse_source_kind);
  r.meta.subject = in.text("subject");
  r.meta.organizer = in.text("organizer");
  r.meta.owner = in.text("owner");
  r.meta.device = in.text("device");
  r.meta.agent_id = in.text("agent_id");
  r.meta.start_time = in.text("agent_start_time");
  r.meta.mime_type = in.text("mime_type");
  r.format = in.text("format");
  if (auto e = in.optional_int("expected_duration_s")) r.expected_duration = core::Seconds{*e};
  r.remote_triggered = in.integer("remote_triggered") != 0;
  r.limits.max_duration = core::Seconds{in.integer("limit_max_duration_s")};
  r.limits.max_chunk_bytes = in.count("limit_max_chunk_bytes");
  r.limits.max_total_bytes = in.count("limit_max_total_bytes");
  r.limits.max_index_gap = in.count("limit_max_index_gap");
  r.state = in.parsed<core::State>("state", core::parse_state);
  r.stop_reason = in.parsed<core::StopReason>("stop_reason", core::parse_stop_reason);
  r.outcome = in.parsed<core::Outcome>("status", core::parse_outcome);
  r.created_at = in.time("created_at").value_or(core::WallTime{});
  r.started_at = in.time("started_at");
  r.last_activity_at = in.time("last_activity_at");
  r.stopped_at = in.time("stopped_at");
  r.finalized_at = in.time("finalized_at");
  if (!decode_ledger(in.text("ledger"), r.ledger, in.count("total_bytes"), in.count("chunk_count")))
    in.fail("ledger", "does not match chunk_count");
  if (!decode_indices(in.text("missing_chunks"), r.missing_chunks)) in.fail("missing_chunks", "is not a list");
  if (!decode_files(in.text("files"), r.files)) in.fail("files", "is not a JSON list of files");
  r.duration_seconds = in.real("duration_seconds");
  r.start_attempts = static_cast<std::uint32_t>(in.count("start_attempts"));
  r.error = in.text("error");
  r.current_file = in.text("current_file");
  r.meta.session_id = in.text("session_id");
  r.agent.status = in.text("agent_status");
  r.agent.elapsed = in.real("agent_elapsed");
  r.agent.remaining = in.real("agent_remaining");
  r.agent.timestamp = in.text("agent_timestamp");
  r.video.url = in.text("video_url");
  if (auto size = in.optional_int("video_file_size")) {
    if (*size < 0) in.fail("video_file_size", "is negative");
    else r.video.file_size = static_cast<std::uint64_t>(*size);
  }
  // Absent from notices saved before migration 6: 0, older than any later change.
  r.revision = static_cast<std::uint64_t>(std::max<std::int64_t>(0, in.optional_int("revision").value_or(0)));
  r.lease.instance = in.text("lease_instance");
  r.lease.epoch = static_cast<std::uint64_t>(std::max<std::int64_t>(0, in.optional_int("lease_epoch").value_or(0)));
  const std::string notify = in.text("notify");
  for (std::string_view rest = notify; !rest.empty();) {
    const auto comma = rest.find(',');
    r.meta.notify.emplace_back(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
  }
  if (!in.error.empty())
    return core::fail(Errc::internal, fmt::format("recording {} is stored wrongly: {}", r.id, in.error));
  return r;
}

Row to_row(const core::RecordingEvent& e) {
  return Row{e.recording_id,
             to_micros(e.at),
             std::string(core::to_string(e.transition.from)),
             std::string(core::to_string(e.transition.to)),
             e.transition.event,
             std::string(core::to_string(e.transition.reason)),
             e.transition.detail};
}

Result<core::RecordingEvent> event_from_row(const Row& row) {
  if (row.size() != kEventColumns.size()) return core::fail(Errc::internal, "a recording_events row is malformed");
  const auto text = [&](std::size_t i) -> std::string {
    const auto* s = std::get_if<std::string>(&row[i]);
    return s ? *s : std::string{};
  };
  const auto* at = std::get_if<std::int64_t>(&row[1]);
  auto from = core::parse_state(text(2));
  auto to = core::parse_state(text(3));
  auto reason = core::parse_stop_reason(text(5));
  if (!at || !from || !to || !reason)
    return core::fail(Errc::internal, fmt::format("an event of recording {} is stored wrongly", text(0)));
  return core::RecordingEvent{text(0), from_micros(*at), core::Transition{*from, *to, text(4), *reason, text(6)}};
}

std::string upsert_recording_sql(Dialect d) {
  std::string updates;
  for (const auto& c : kRecordingColumns) {
    if (c.name == "id") continue;
    if (!updates.empty()) updates += ", ";
    updates += fmt::format("{0} = excluded.{0}", c.name);
  }
  return fmt::format("INSERT INTO recordings ({}) VALUES ({}) ON CONFLICT (id) DO UPDATE SET {}",
                     column_list(kRecordingColumns), placeholders(d, kRecordingColumns.size()), updates);
}

std::string insert_event_sql(Dialect d) {
  return fmt::format("INSERT INTO recording_events ({}) VALUES ({})", column_list(kEventColumns),
                     placeholders(d, kEventColumns.size()));
}

std::string select_recordings_sql() { return fmt::format("SELECT {} FROM recordings", column_list(kRecordingColumns)); }
std::string select_events_sql() { return fmt::format("SELECT {} FROM recording_events", column_list(kEventColumns)); }

Query list_query(Dialect d, const core::RecordingQuery& q) {
  Query out;
  std::vector<std::string> where;
  const auto add = [&](std::string_view column, std::string_view op, Value v) {
    out.params.push_back(std::move(v));
    where.push_back(fmt::format("{} {} {}", column, op, placeholder(d, static_cast<int>(out.params.size()))));
  };
  if (q.state) add("state", "=", std::string(core::to_string(*q.state)));
  if (q.finished) where.emplace_back("state IN ('ready','failed')");
  if (q.kind) add("kind", "=", std::string(core::to_string(*q.kind)));
  if (q.device) add("device", "=", *q.device);
  if (q.agent_id) add("agent_id", "=", *q.agent_id);
  if (q.organizer) add("organizer", "=", *q.organizer);
  if (q.session_id) add("session_id", "=", *q.session_id);
  if (q.created_since) add("created_at", ">=", to_micros(*q.created_since));
  if (q.created_until) add("created_at", "<", to_micros(*q.created_until));
  if (q.after) {
    out.params.push_back(to_micros(q.after->created_at));
    const auto at = placeholder(d, static_cast<int>(out.params.size()));
    out.params.push_back(q.after->id);
    const auto id = placeholder(d, static_cast<int>(out.params.size()));
    where.push_back(fmt::format("(created_at < {0} OR (created_at = {0} AND id < {1}))", at, id));
  }
  out.sql = select_recordings_sql();
  if (!where.empty()) out.sql += fmt::format(" WHERE {}", fmt::join(where, " AND "));
  out.sql += fmt::format(" ORDER BY created_at DESC, id DESC LIMIT {}", q.limit);
  return out;
}

Query unfinished_query(Dialect) {
  return Query{fmt::format("{} WHERE state NOT IN {} ORDER BY created_at, id", select_recordings_sql(), kTerminalStates),
               {}};
}

Query agent_key_query(Dialect d, const std::string& key) {
  return Query{fmt::format("{} WHERE agent_key = {} ORDER BY CASE WHEN state IN {} THEN 0 ELSE 1 END, created_at "
                           "DESC, id DESC LIMIT 1",
                           select_recordings_sql(), placeholder(d, 1), kLiveStates),
               {key}};
}

}  // namespace recorder::adapters::store_common
