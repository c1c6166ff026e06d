// The outbox's rows: see recording_rows.hpp.

#include <array>

#include <fmt/format.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "recorder/adapters/store_common/recording_rows.hpp"

namespace recorder::adapters::store_common {
namespace {

using core::Errc;
using core::Result;
using enum ColumnType;
using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

constexpr std::array kOutboxColumns{
    Column{"seq", integer}, Column{"id", text}, Column{"type", text},
    Column{"recording_id", text}, Column{"at", integer}, Column{"payload", text},
};

void put(JsonWriter& w, std::string_view key, std::string_view value) {
  w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
  w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

// The recording's row as a JSON object, column by column: the same mapping as the table.
void put_recording(JsonWriter& w, const core::Recording& r) {
  const Row row = to_row(r);
  const auto columns = recording_columns();
  w.StartObject();
  for (std::size_t i = 0; i < columns.size(); ++i) {
    w.Key(columns[i].name.data(), static_cast<rapidjson::SizeType>(columns[i].name.size()));
    if (const auto* n = std::get_if<std::int64_t>(&row[i])) w.Int64(*n);
    else if (const auto* d = std::get_if<double>(&row[i])) w.Double(*d);
    else if (const auto* s = std::get_if<std::string>(&row[i])) w.String(s->data(), static_cast<rapidjson::SizeType>(s->size()));
    else w.Null();
  }
  w.EndObject();
}

Result<core::Recording> get_recording(const rapidjson::Value& obj) {
  if (!obj.IsObject()) return core::fail(Errc::internal, "the notice's recording is not an object");
  Row row;
  for (const Column& c : recording_columns()) {
    auto it = obj.FindMember(rapidjson::StringRef(c.name.data(), c.name.size()));
    if (it == obj.MemberEnd() || it->value.IsNull()) row.emplace_back();
    else if (c.type == integer && it->value.IsInt64()) row.emplace_back(it->value.GetInt64());
    else if (c.type == real && it->value.IsNumber()) row.emplace_back(it->value.GetDouble());
    else if (c.type == text && it->value.IsString())
      row.emplace_back(std::string(it->value.GetString(), it->value.GetStringLength()));
    else return core::fail(Errc::internal, fmt::format("the notice's recording field {} has the wrong type", c.name));
  }
  return from_row(row);
}

// The value of an enum whose to_string() is `text`, among the first..last values.
template <typename E>
std::optional<E> parse_enum(std::string_view text, E first, E last) {
  for (auto n = static_cast<int>(first); n <= static_cast<int>(last); ++n) {
    if (core::to_string(static_cast<E>(n)) == text) return static_cast<E>(n);
  }
  return std::nullopt;
}

std::string payload_of(const core::NoticeBody& n) {
  rapidjson::StringBuffer buffer;
  JsonWriter w(buffer);
  w.StartObject();
  if (const auto* r = std::get_if<core::RecordingNotice>(&n)) {
    w.Key("recording");
    put_recording(w, r->recording);
  } else if (const auto* s = std::get_if<core::StorageNotice>(&n)) {
    put(w, "level", core::to_string(s->level));
    w.Key("used_percent");
    w.Double(s->used_percent);
  } else if (const auto* g = std::get_if<core::AgentNotice>(&n)) {
    put(w, "agent_id", g->agent_id);
    put(w, "detail", g->detail);
  } else {
    const auto& a = std::get<core::Alert>(n);
    put(w, "severity", core::to_string(a.severity));
    put(w, "message", a.message);
    if (!a.cause.empty()) put(w, "cause", a.cause);
  }
  w.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

std::optional<core::RecordingId> recording_of(const core::NoticeBody& n) {
  if (const auto* r = std::get_if<core::RecordingNotice>(&n)) return r->recording.id;
  if (const auto* a = std::get_if<core::Alert>(&n)) return a->recording_id;
  return std::nullopt;
}

}  // namespace

std::span<const Column> outbox_columns() { return kOutboxColumns; }

Row to_row(const core::NoticeBody& n) {
  auto recording = recording_of(n);
  return Row{core::notice_id(n), core::notice_type(n), recording ? Value{*recording} : Value{},
             to_micros(core::notice_time(n)), payload_of(n)};
}

Result<core::OutboxEntry> outbox_from_row(const Row& row) {
  if (row.size() != kOutboxColumns.size()) return core::fail(Errc::internal, "an outbox row is malformed");
  const auto* seq = std::get_if<std::int64_t>(&row[0]);
  const auto* id = std::get_if<std::string>(&row[1]);
  const auto* type = std::get_if<std::string>(&row[2]);
  const auto* recording = std::get_if<std::string>(&row[3]);
  const auto* at = std::get_if<std::int64_t>(&row[4]);
  const auto* payload = std::get_if<std::string>(&row[5]);
  if (!seq || !id || !type || !at || !payload) return core::fail(Errc::internal, "an outbox row has a NULL or mistyped column");
  const auto wrong = [&](std::string_view why) {
    return core::fail(Errc::internal, fmt::format("outbox notice {} ({}) is stored wrongly: {}", *id, *type, why));
  };
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseIterativeFlag>(payload->c_str(), payload->size());
  if (doc.HasParseError() || !doc.IsObject()) return wrong("its payload is not a JSON object");
  const core::WallTime when = from_micros(*at);
  core::OutboxEntry entry;
  entry.seq = static_cast<std::uint64_t>(*seq);
  if (type->starts_with("recording.")) {
    auto notice = parse_enum(*type, core::Notice::started, core::Notice::deleted);
    if (!notice || !doc.HasMember("recording")) return wrong("unknown type or no recording");
    auto r = get_recording(doc["recording"]);
    if (!r) return wrong(r.error().message);
    entry.body = core::RecordingNotice{*id, when, *notice, std::move(*r)};
  } else if (type->starts_with("storage.")) {
    if (!doc.HasMember("level") || !doc["level"].IsString() || !doc.HasMember("used_percent") ||
        !doc["used_percent"].IsNumber())
      return wrong("no level or used_percent");
    auto level = parse_enum(std::string_view(doc["level"].GetString()), core::StorageLevel::normal, core::StorageLevel::block);
    if (!level) return wrong("unknown level");
    entry.body = core::StorageNotice{*id, when, *level, doc["used_percent"].GetDouble()};
  } else if (type->starts_with("alert.")) {
    if (!doc.HasMember("severity") || !doc["severity"].IsString() || !doc.HasMember("message") ||
        !doc["message"].IsString())
      return wrong("no severity or message");
    auto severity =
        parse_enum(std::string_view(doc["severity"].GetString()), core::Severity::info, core::Severity::critical);
    if (!severity) return wrong("unknown severity");
    std::string cause;
    if (doc.HasMember("cause") && doc["cause"].IsString()) cause = doc["cause"].GetString();
    entry.body = core::Alert{*id, when, *severity, doc["message"].GetString(),
                             recording ? std::optional<core::RecordingId>{*recording} : std::nullopt, std::move(cause)};
  } else if (*type == "agent.connected" || *type == "agent.disconnected") {
    if (!doc.HasMember("agent_id") || !doc["agent_id"].IsString() || !doc.HasMember("detail") ||
        !doc["detail"].IsString())
      return wrong("no agent_id or detail");
    entry.body = core::AgentNotice{*id, when, doc["agent_id"].GetString(), *type == "agent.connected",
                                   doc["detail"].GetString()};
  } else {
    return wrong("unknown type");
  }
  return entry;
}

Result<std::vector<core::OutboxEntry>> outbox_from_rows(std::span<const Row> rows) {
  std::vector<core::OutboxEntry> out;
  out.reserve(rows.size());
  for (const auto& row : rows) {
    auto e = outbox_from_row(row);
    if (!e) return std::unexpected(e.error());
    out.push_back(std::move(*e));
  }
  return out;
}

std::string insert_notice_sql(Dialect d) {
  return fmt::format("INSERT INTO outbox (id, type, recording_id, at, payload) VALUES ({}, {}, {}, {}, {}) "
                     "ON CONFLICT (id) DO NOTHING",
                     placeholder(d, 1), placeholder(d, 2), placeholder(d, 3), placeholder(d, 4), placeholder(d, 5));
}

std::string add_subscriber_sql(Dialect d) {
  return fmt::format("INSERT INTO outbox_subscribers (name, since_seq) SELECT {}, COALESCE(MAX(seq), 0) + 1 FROM outbox WHERE true "
                     "ON CONFLICT (name) DO NOTHING",
                     placeholder(d, 1));
}

std::string undelivered_sql(Dialect d) {
  return fmt::format(
      "SELECT o.seq, o.id, o.type, o.recording_id, o.at, o.payload FROM outbox o "
      "JOIN outbox_subscribers s ON s.name = {0} AND o.seq >= s.since_seq "
      "WHERE NOT EXISTS (SELECT 1 FROM outbox_deliveries d WHERE d.subscriber = {0} AND d.seq = o.seq) "
      "ORDER BY o.seq LIMIT {1}",
      placeholder(d, 1), placeholder(d, 2));
}

std::string latest_sql(Dialect d) {
  // substr rather than LIKE (which would need escaping) or a range (Postgres compares text
  // by its locale). Read backwards by seq until enough match.
  return fmt::format(
      "SELECT seq, id, type, recording_id, at, payload FROM outbox WHERE substr(type, 1, length({0})) = {0} "
      "ORDER BY seq DESC LIMIT {1}",
      placeholder(d, 1), placeholder(d, 2));
}

std::string pending_sql(Dialect d) {
  return fmt::format(
      "SELECT COUNT(*) FROM outbox o JOIN outbox_subscribers s ON s.name = {0} AND o.seq >= s.since_seq "
      "WHERE NOT EXISTS (SELECT 1 FROM outbox_deliveries d WHERE d.subscriber = {0} AND d.seq = o.seq)",
      placeholder(d, 1));
}

std::string mark_delivered_sql(Dialect d) {
  return fmt::format("INSERT INTO outbox_deliveries (subscriber, seq, delivered_at) VALUES ({}, {}, {}) "
                     "ON CONFLICT (subscriber, seq) DO NOTHING",
                     placeholder(d, 1), placeholder(d, 2), placeholder(d, 3));
}

}  // namespace recorder::adapters::store_common
