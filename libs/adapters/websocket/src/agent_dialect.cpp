// The agent dialect, /ws/agent?agent_id=<id> (seed 000): docs/protocol.md section 3.
// A meeting-room recorder agent reports start_confirmed, recording_status (every 5 s),
// stop_confirmed and recording_stopped_premature; every message is answered with an ack
// naming the recording, or an error naming what was wrong. Commands (start_recording,
// stop_recording) reach the agent through the AgentHub.

#include <cmath>

#include <fmt/format.h>

#include "dialect.hpp"
#include "recorder/adapters/json/json.hpp"

namespace recorder::adapters::websocket {
namespace {

constexpr std::size_t kMaxText = 1000;  // subject, organizer, reason, status, timestamp

class AgentSession final : public DialectSession {
 public:
  explicit AgentSession(AgentContext ctx) : ctx_(std::move(ctx)) {}

  void on_open() override {
    std::weak_ptr<Outbox> link = ctx_.link;
    bool replaced = false;
    ticket_ = ctx_.hub.attach(
        ctx_.agent_id, ctx_.remote,
        [link](std::string text) {
          if (auto out = link.lock()) out->send_text(std::move(text));
        },
        [link](std::string reason) {
          if (auto out = link.lock()) out->close(std::move(reason));
        },
        replaced);
    if (replaced && ctx_.log)
      ctx_.log->write(core::Severity::warning,
                      fmt::format("agent {}: a second connection (from {}) while one was open; the newer one takes "
                                  "over and the older is closed",
                                  ctx_.agent_id, ctx_.remote));
    ctx_.service.agent_presence(ctx_.agent_id, true,
                                fmt::format("connected from {}{}", ctx_.remote,
                                            replaced ? ", replacing its older connection" : ""));
  }

  void on_text(std::string&& text) override {
    rapidjson::Document doc;
    if (auto err = json::parse(doc, text)) return error("", fmt::format("malformed JSON: {}", *err));
    if (!doc.IsObject()) return error("", R"(every message is {"type": "...", "timestamp": "...", "data": {...}})");
    const auto* type = json::member(doc, "type");
    if (!type || !type->IsString())
      return error("", "\"type\" is missing or not a string; expected start_confirmed, recording_status, "
                       "stop_confirmed or recording_stopped_premature");
    const std::string name(type->GetString(), std::min<std::size_t>(type->GetStringLength(), 64));
    ctx_.hub.heard(ctx_.agent_id, ticket_, name);
    if (name != "start_confirmed" && name != "recording_status" && name != "stop_confirmed" &&
        name != "recording_stopped_premature")
      return error(name, fmt::format("unknown type '{}': expected start_confirmed, recording_status, stop_confirmed "
                                     "or recording_stopped_premature",
                                     name));
    core::AgentReport report;
    report.agent_id = ctx_.agent_id;
    if (const auto* ts = json::member(doc, "timestamp"); ts && !ts->IsNull()) {
      if (!ts->IsString() || ts->GetStringLength() > 64)
        return error(name, "timestamp: expected an ISO 8601 time as a string (at most 64 characters)");
      report.timestamp = ts->GetString();
    }
    const auto* data = json::member(doc, "data");
    if (!data || !data->IsObject()) return error(name, fmt::format("{} needs a \"data\" object", name));
    if (auto bad = read(*data, name, report)) return error(name, *bad);

    const auto done = name == "start_confirmed"    ? ctx_.service.agent_start_confirmed(report)
                      : name == "recording_status" ? ctx_.service.agent_status(report)
                      : name == "stop_confirmed"   ? ctx_.service.agent_stop_confirmed(report)
                                                   : ctx_.service.agent_premature_stop(report);
    if (!done) return error(name, done.error().message);
    ack(name, *done);
  }

  void on_binary(std::string&&) override {
    error("", "binary frames are not part of the agent dialect: every message is a JSON text frame");
  }

  void on_close() override {
    if (ctx_.hub.detach(ctx_.agent_id, ticket_))
      ctx_.service.agent_presence(ctx_.agent_id, false, "its connection closed");
  }

  void on_notice(const core::RecordingNotice&) override {}

 private:
  // Fills `report` from `data`, or says which field is wrong.
  static std::optional<std::string> read(const rapidjson::Value& data, const std::string& type,
                                         core::AgentReport& report) {
    for (auto [key, out] : {std::pair{"subject", &report.subject}, std::pair{"organizer", &report.organizer},
                            std::pair{"start_time", &report.start_time}}) {
      const auto* v = json::member(data, key);
      if (!v || !v->IsString() || v->GetStringLength() == 0 || v->GetStringLength() > kMaxText)
        return fmt::format("data.{}: required, a non-empty string (at most {} characters)", key, kMaxText);
      *out = v->GetString();
    }
    for (auto [key, out] : {std::pair{"elapsed", &report.elapsed}, std::pair{"remaining", &report.remaining},
                            std::pair{"duration_actual", &report.duration_actual}}) {
      const auto* v = json::member(data, key);
      if (!v || v->IsNull()) continue;
      if (!v->IsNumber() || !std::isfinite(v->GetDouble()) || v->GetDouble() < 0)
        return fmt::format("data.{}: expected a number of seconds, 0 or more", key);
      *out = v->GetDouble();
    }
    if (const auto* v = json::member(data, "duration_expected"); v && !v->IsNull()) {
      if (!v->IsNumber() || !std::isfinite(v->GetDouble()) || v->GetDouble() < 0 || v->GetDouble() > 1e9)
        return std::string("data.duration_expected: expected a number of seconds, 0 or more");
      report.duration_expected = core::Seconds{std::llround(v->GetDouble())};
    }
    if (const auto* v = json::member(data, "reason"); v && !v->IsNull()) {
      if (!v->IsString() || v->GetStringLength() > kMaxText)
        return fmt::format("data.reason: expected a string (at most {} characters)", kMaxText);
      report.reason_text = v->GetString();
      report.reason = core::parse_stop_reason(report.reason_text).value_or(core::StopReason::none);
    }
    if (const auto* v = json::member(data, "status"); v && !v->IsNull()) {
      if (!v->IsString() || v->GetStringLength() > kMaxText)
        return fmt::format("data.status: expected a string (at most {} characters)", kMaxText);
      const std::string status = v->GetString();
      if (type == "stop_confirmed") {
        if (status != "success" && status != "failed")
          return fmt::format("data.status: '{}' is not a stop status; expected \"success\" or \"failed\"", status);
        report.success = status == "success";
      } else {
        report.status = status;
      }
    }
    return std::nullopt;
  }

  void ack(const std::string& type, const core::Recording& r) {
    send("ack", [&](json::Writer& w) {
      json::put(w, "for", type);
      json::put(w, "recording_id", r.id);
      json::put(w, "state", core::to_string(r.state));
      json::put(w, "outcome", core::to_string(r.outcome));
    });
  }

  void error(const std::string& type, const std::string& message) {
    send("error", [&](json::Writer& w) {
      json::put(w, "message", message);
      if (!type.empty()) json::put(w, "for", type);
    });
  }

  template <typename Fill>
  void send(std::string_view type, Fill fill) {
    rapidjson::StringBuffer buffer;
    json::Writer w(buffer);
    w.StartObject();
    json::put(w, "type", type);
    json::put(w, "timestamp", agent_timestamp(ctx_.hub.now()));
    w.Key("data");
    w.StartObject();
    fill(w);
    w.EndObject();
    w.EndObject();
    ctx_.out.send_text(std::string(buffer.GetString(), buffer.GetSize()));
  }

  AgentContext ctx_;
  std::uint64_t ticket_ = 0;
};

}  // namespace

std::unique_ptr<DialectSession> make_agent_session(AgentContext ctx) {
  return std::make_unique<AgentSession>(std::move(ctx));
}

}  // namespace recorder::adapters::websocket
