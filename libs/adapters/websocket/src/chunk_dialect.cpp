// The chunk dialect, /ws/record (seed 001 over plain WebSocket): docs/protocol.md section 2.

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "dialect.hpp"
#include "recorder/adapters/json/json.hpp"

namespace recorder::adapters::websocket {
namespace {

class ChunkSession final : public DialectSession {
 public:
  explicit ChunkSession(DialectContext ctx) : ctx_(ctx) {}

  void on_text(std::string&& text) override {
    rapidjson::Document doc;
    if (auto err = json::parse(doc, text)) return error(fmt::format("malformed JSON: {}", *err));
    const auto* event = json::member(doc, "event");
    if (!event || !event->IsString())
      return error(R"(every message is {"event": "<name>", "data": {...}}: "event" is missing or not a string)");
    const auto* data = json::member(doc, "data");
    if (!data || !data->IsObject()) return error(fmt::format("event '{}' needs a \"data\" object", event->GetString()));
    const std::string name = event->GetString();
    if (name == "start") return start(*data);
    if (name == "chunk") return chunk(*data);
    if (name == "stop") return stop(*data);
    error(fmt::format("Unknown event '{}': expected start, chunk or stop", name));
  }

  void on_binary(std::string&& bytes) override {
    if (!current_) return error("a binary chunk needs a recording: send start first");
    store(*current_, std::nullopt, bytes);
  }

  void on_close() override {
    for (const auto& id : open_) ctx_.service.stream_disconnected(id);
    open_.clear();
  }

  void on_notice(const core::RecordingNotice& n) override {
    const core::Recording& r = n.recording;
    if (n.notice == core::Notice::ready) {
      send("recordingReady", [&](json::Writer& w) {
        json::put(w, "recordId", r.id);
        const auto original = std::ranges::find(r.files, core::FileRole::original, &core::MediaFile::role);
        if (original != r.files.end()) json::put(w, "downloadUrl", ctx_.host.download_url(original->path));
        else json::put_null(w, "downloadUrl");
        // Beyond seed 001: a remuxed copy with a duration and cues, for players that seek.
        const auto seekable = std::ranges::find(r.files, core::FileRole::converted, &core::MediaFile::role);
        if (seekable != r.files.end()) json::put(w, "seekableUrl", ctx_.host.download_url(seekable->path));
        json::put(w, "durationSeconds", r.duration_seconds.value_or(0.0));
        json::put(w, "bytes", r.ledger.total_bytes());
      });
    } else if (n.notice == core::Notice::failed) {
      send("recordingError", [&](json::Writer& w) {
        json::put(w, "recordId", r.id);
        json::put(w, "missingChunks", r.missing_chunks);
        json::put(w, "totalExpected", r.ledger.next_index());
        json::put(w, "error", r.error);
        const auto original = std::ranges::find(r.files, core::FileRole::original, &core::MediaFile::role);
        if (original != r.files.end()) json::put(w, "downloadUrl", ctx_.host.download_url(original->path));
      });
    }
  }

 private:
  std::optional<std::string> record_id(const rapidjson::Value& data, std::string_view event) {
    const auto* id = json::member(data, "recordId");
    if (!id || !id->IsString() || id->GetStringLength() == 0) {
      error(fmt::format("{} needs data.recordId, a non-empty string", event));
      return std::nullopt;
    }
    return std::string(id->GetString(), id->GetStringLength());
  }

  void start(const rapidjson::Value& data) {
    auto id = record_id(data, "start");
    if (!id) return;
    std::string mime;
    if (const auto* m = json::member(data, "mimeType"); m && m->IsString()) mime = m->GetString();
    auto started = ctx_.service.start_stream(core::StreamStart{*id, "", mime, "", ctx_.limits});
    if (!started) return error(started.error().message);
    current_ = *id;
    open_.insert(*id);
    ctx_.host.watch(*id);
    send("started", [&](json::Writer& w) {
      json::put(w, "recordId", *id);
      json::put(w, "resumed", started->resumed);
      json::put(w, "nextIndex", started->next_index);
      json::put(w, "missingChunks", started->missing);
    });
  }

  void chunk(const rapidjson::Value& data) {
    auto id = record_id(data, "chunk");
    if (!id) return;
    std::optional<core::ChunkIndex> index;
    if (const auto* i = json::member(data, "index"); i && !i->IsNull()) {
      if (!i->IsUint64()) return chunk_error(*id, std::nullopt, "index must be a whole number of 0 or more");
      index = i->GetUint64();
    }
    const auto* payload = json::member(data, "data");
    if (!payload || !payload->IsString()) return chunk_error(*id, index, "chunk needs data.data, a base64 string");
    auto bytes = decode_base64(std::string_view(payload->GetString(), payload->GetStringLength()));
    if (!bytes) return chunk_error(*id, index, "data.data is not valid base64");
    store(*id, index, *bytes);
  }

  void stop(const rapidjson::Value& data) {
    auto id = record_id(data, "stop");
    if (!id) return;
    open_.erase(*id);
    ctx_.host.watch(*id);
    auto stopped = ctx_.service.stop(*id, core::StopReason::manual);
    if (!stopped) return error(stopped.error().message);
    if (current_ == *id) current_.reset();
    // Already finished (a second stop, or finalized after a drop): answer now.
    if (stopped->state == core::State::ready) on_notice({"", {}, core::Notice::ready, *stopped});
    if (stopped->state == core::State::failed) on_notice({"", {}, core::Notice::failed, *stopped});
  }

  void store(const std::string& id, std::optional<core::ChunkIndex> index, const std::string& bytes) {
    auto ack = ctx_.service.receive_chunk(
        id, index, std::span(reinterpret_cast<const std::byte*>(bytes.data()), bytes.size()));
    if (!ack) return chunk_error(id, index, ack.error().message);
    send("chunkAck", [&](json::Writer& w) {
      json::put(w, "recordId", id);
      json::put(w, "index", ack->index);
      json::put(w, "bytes", static_cast<std::uint64_t>(ack->bytes));
    });
  }

  void chunk_error(const std::string& id, std::optional<core::ChunkIndex> index, const std::string& message) {
    send("chunkError", [&](json::Writer& w) {
      json::put(w, "recordId", id);
      if (index) json::put(w, "index", *index);
      else json::put_null(w, "index");
      json::put(w, "error", message);
    });
  }

  void error(const std::string& message) {
    send("error", [&](json::Writer& w) { json::put(w, "message", message); });
  }

  template <typename Fill>
  void send(std::string_view event, Fill fill) {
    rapidjson::StringBuffer buffer;
    json::Writer w(buffer);
    w.StartObject();
    json::put(w, "event", event);
    w.Key("data");
    w.StartObject();
    fill(w);
    w.EndObject();
    w.EndObject();
    ctx_.out.send_text(std::string(buffer.GetString(), buffer.GetSize()));
  }

  DialectContext ctx_;
  std::optional<core::RecordingId> current_;
  std::set<core::RecordingId> open_;  // started here and not stopped by the client
};

}  // namespace

std::unique_ptr<DialectSession> make_chunk_session(DialectContext ctx) { return std::make_unique<ChunkSession>(ctx); }

}  // namespace recorder::adapters::websocket
