// /ws/events, the dashboard's live feed (docs/protocol.md section 9): the connection signs
// in, then only listens. Signing in and what is sent are the EventStream's; this session
// reads the sign-in and refuses anything else with a message that says what is expected.

#include <utility>

#include <fmt/format.h>

#include "dialect.hpp"
#include "recorder/adapters/json/json.hpp"

namespace recorder::adapters::websocket {
namespace {

class EventsSession final : public DialectSession {
 public:
  EventsSession(EventStream& stream, Outbox& out, std::weak_ptr<Outbox> link, std::string presented)
      : stream_(stream), out_(out), link_(std::move(link)), presented_(std::move(presented)) {}

  void on_open() override {
    stream_.opened(link_);
    if (!presented_.empty()) sign_in(std::exchange(presented_, {}));
  }

  void on_text(std::string&& text) override {
    rapidjson::Document doc;
    if (auto bad = json::parse(doc, text)) return error(fmt::format("the message is not JSON: {}", *bad));
    const auto* type = doc.IsObject() ? json::member(doc, "type") : nullptr;
    if (!type || !type->IsString()) return error(R"(expected {"type": "auth", "token": "<token>"})");
    const std::string_view kind(type->GetString(), type->GetStringLength());
    if (kind != "auth")
      return error(fmt::format("unknown message type '{}': /ws/events takes only \"auth\"; it sends, it does not "
                               "take commands (use the REST API)",
                               kind.substr(0, 64)));
    if (signed_in_) return error("already signed in");
    const auto* token = json::member(doc, "token");
    if (!token || !token->IsString() || token->GetStringLength() == 0)
      return error("token: required, the API token (recctl token create)");
    sign_in(std::string(token->GetString(), token->GetStringLength()));
  }

  void on_binary(std::string&&) override { error("/ws/events takes text messages only"); }
  void on_close() override { stream_.closed(&out_); }
  void on_notice(const core::RecordingNotice&) override {}

 private:
  void sign_in(const std::string& token) {
    signed_in_ = true;
    stream_.sign_in(link_, token);
  }

  // {"type": "error", "message"}: the connection stays (a sign-in may follow).
  void error(const std::string& message) {
    rapidjson::StringBuffer buffer;
    json::Writer w(buffer);
    w.StartObject();
    json::put(w, "type", "error");
    json::put(w, "message", message);
    w.EndObject();
    out_.send_text(std::string(buffer.GetString(), buffer.GetSize()));
  }

  EventStream& stream_;
  Outbox& out_;
  std::weak_ptr<Outbox> link_;
  std::string presented_;  // from the handshake; signed in with at open
  bool signed_in_ = false;
};

}  // namespace

std::unique_ptr<DialectSession> make_events_session(EventStream& stream, Outbox& out, std::weak_ptr<Outbox> link,
                                                    std::string presented_token) {
  return std::make_unique<EventsSession>(stream, out, std::move(link), std::move(presented_token));
}

}  // namespace recorder::adapters::websocket
