// The chunk dialect, /ws/record (seed 001 over plain WebSocket): docs/protocol.md section 2.
// The protocol itself is ChunkProtocol (chunk_protocol.cpp); this is its framing.

#include <fmt/format.h>

#include "chunk_protocol.hpp"
#include "dialect.hpp"
#include "recorder/adapters/json/json.hpp"

namespace recorder::adapters::websocket {
namespace {

class ChunkSession final : public DialectSession {
 public:
  explicit ChunkSession(DialectContext ctx)
      : out_(ctx.out), protocol_(ctx, [this](std::string_view event, std::string_view, std::string data) {
          out_.send_text(fmt::format(R"({{"event":"{}","data":{}}})", event, data));
        }) {}

  void on_text(std::string&& text) override {
    rapidjson::Document doc;
    if (auto err = json::parse(doc, text)) return protocol_.error(fmt::format("malformed JSON: {}", *err));
    const auto* event = json::member(doc, "event");
    if (!event || !event->IsString())
      return protocol_.error(R"(every message is {"event": "<name>", "data": {...}}: "event" is missing or not a string)");
    const auto* data = json::member(doc, "data");
    if (!data || !data->IsObject())
      return protocol_.error(fmt::format("event '{}' needs a \"data\" object", event->GetString()));
    const std::string_view name(event->GetString(), event->GetStringLength());
    if (name == "start") return protocol_.start(*data);
    if (name == "chunk") return protocol_.chunk(*data);
    if (name == "stop") return protocol_.stop(*data);
    protocol_.error(fmt::format("Unknown event '{}': expected start, chunk or stop", name));
  }

  void on_binary(std::string&& bytes) override { protocol_.binary(bytes); }
  void on_close() override { protocol_.closed(); }
  void on_notice(const core::RecordingNotice& n) override { protocol_.notice(n); }

 private:
  Outbox& out_;
  ChunkProtocol protocol_;
};

}  // namespace

std::unique_ptr<DialectSession> make_chunk_session(DialectContext ctx) { return std::make_unique<ChunkSession>(ctx); }

}  // namespace recorder::adapters::websocket
