// A path that is reserved for a dialect recorderd does not serve yet (/ws/agent until the
// agent dialect lands): every client is told so, in that dialect's error shape, and nothing
// it sends is taken for another dialect's message.

#include <chrono>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include "dialect.hpp"
#include "recorder/adapters/json/json.hpp"

namespace recorder::adapters::websocket {
namespace {

class UnavailableSession final : public DialectSession {
 public:
  UnavailableSession(Outbox& out, std::string message) : out_(out), message_(std::move(message)) {}

  void on_open() override { error(); }
  void on_text(std::string&&) override { error(); }
  void on_binary(std::string&&) override { error(); }
  void on_close() override {}
  void on_notice(const core::RecordingNotice&) override {}

 private:
  // Seed 000's envelope: {"type": "error", "timestamp": ..., "data": {"message": ...}}.
  void error() {
    rapidjson::StringBuffer buffer;
    json::Writer w(buffer);
    w.StartObject();
    json::put(w, "type", "error");
    json::put(w, "timestamp",
              fmt::format("{:%Y-%m-%dT%H:%M:%S}Z", std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now())));
    w.Key("data");
    w.StartObject();
    json::put(w, "message", message_);
    w.EndObject();
    w.EndObject();
    out_.send_text(std::string(buffer.GetString(), buffer.GetSize()));
  }

  Outbox& out_;
  std::string message_;
};

}  // namespace

std::unique_ptr<DialectSession> make_unavailable_session(Outbox& out, std::string message) {
  return std::make_unique<UnavailableSession>(out, std::move(message));
}

}  // namespace recorder::adapters::websocket
