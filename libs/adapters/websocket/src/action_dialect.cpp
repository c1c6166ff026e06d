// The action dialect, /ws/{session_id} (seed 002): docs/protocol.md section 1. The error
// messages are seed 002's, word for word, with the configured limits in them.

#include <algorithm>

#include <fmt/format.h>

#include "dialect.hpp"
#include "recorder/adapters/json/json.hpp"

namespace recorder::adapters::websocket {
namespace {

std::string size_text(std::uint64_t bytes) {
  if (bytes % (1024 * 1024) == 0) return fmt::format("{}MB", bytes / (1024 * 1024));
  return fmt::format("{} bytes", bytes);
}

std::string duration_text(core::Seconds d) {
  const auto s = d.count();
  if (s % 3600 == 0) return s == 3600 ? "1 hour" : fmt::format("{} hours", s / 3600);
  if (s % 60 == 0) return fmt::format("{} minutes", s / 60);
  return fmt::format("{} seconds", s);
}

class ActionSession final : public DialectSession {
 public:
  ActionSession(DialectContext ctx, std::string session_id) : ctx_(ctx), session_id_(std::move(session_id)) {}

  void on_text(std::string&& text) override {
    rapidjson::Document doc;
    if (auto err = json::parse(doc, text)) return error(fmt::format("Invalid JSON: {}", *err));
    const auto* action = json::member(doc, "action");
    const std::string name = action && action->IsString() ? action->GetString() : "";
    if (name == "start") return start(doc);
    if (name == "audio_chunk") {
      const auto* data = json::member(doc, "data");
      if (!current_) return error("Recording not started. Send 'start' action first");
      if (!data || !data->IsString()) return error("Invalid audio data encoding");
      auto bytes = decode_base64(std::string_view(data->GetString(), data->GetStringLength()));
      if (!bytes) return error("Invalid audio data encoding");
      return chunk(*bytes);
    }
    if (name == "stop") return stop();
    error("Unknown action");
  }

  void on_binary(std::string&& bytes) override {
    if (!current_) return error("Recording not started. Send 'start' action first");
    chunk(bytes);
  }

  void on_close() override {
    if (current_) ctx_.service.stream_disconnected(*current_);
    current_.reset();
  }

  void on_notice(const core::RecordingNotice& n) override {
    // Beyond seed 002: where the result is, once it is there. Clients that do not know
    // these types ignore them.
    const core::Recording& r = n.recording;
    if (n.notice == core::Notice::ready) {
      send("recording_ready", [&](json::Writer& w) {
        json::put(w, "session_id", session_id_);
        json::put(w, "recording_id", r.id);
        json::put(w, "format", r.format);
        json::put(w, "duration_seconds", r.duration_seconds.value_or(0.0));
        const auto converted = std::ranges::find(r.files, core::FileRole::converted, &core::MediaFile::role);
        const auto original = std::ranges::find(r.files, core::FileRole::original, &core::MediaFile::role);
        if (converted != r.files.end()) json::put(w, "download_url", ctx_.host.download_url(converted->path));
        else if (original != r.files.end()) json::put(w, "download_url", ctx_.host.download_url(original->path));
        if (original != r.files.end()) json::put(w, "original_url", ctx_.host.download_url(original->path));
      });
    } else if (n.notice == core::Notice::failed) {
      send("recording_failed", [&](json::Writer& w) {
        json::put(w, "session_id", session_id_);
        json::put(w, "recording_id", r.id);
        json::put(w, "message", r.error);
      });
    }
  }

 private:
  void start(const rapidjson::Document& doc) {
    const auto* format = json::member(doc, "format");
    const std::string f = format && format->IsString() ? format->GetString() : "";
    if (f != "wav" && f != "mp4") return error("Invalid format. Use 'wav' or 'mp4'");
    if (current_) return error(fmt::format("Recording already started ({}). Send 'stop' first", *current_));
    // The session's first recording takes its id; the core picks the next one (-2, -3, ...).
    auto started = ctx_.service.start_stream(
        core::StreamStart{session_id_, f, "audio/webm", "", ctx_.limits, core::StreamIds::session});
    if (!started) return error(started.error().message);
    current_ = started->recording.id;
    chunks_ = started->recording.ledger.chunk_count();
    ctx_.host.watch(*current_);
    send("recording_started", [&](json::Writer& w) {
      json::put(w, "session_id", session_id_);
      json::put(w, "format", f);
    });
  }

  void chunk(const std::string& bytes) {
    auto ack = ctx_.service.receive_chunk(*current_, std::nullopt,
                                          std::span(reinterpret_cast<const std::byte*>(bytes.data()), bytes.size()));
    if (!ack) {
      switch (ack.error().code) {
        case core::Errc::chunk_too_large:
          return error(fmt::format("Chunk size exceeds limit ({})", size_text(ctx_.limits.max_chunk_bytes)));
        case core::Errc::total_size_exceeded:
          return error(fmt::format("Total data size exceeds limit ({})", size_text(ctx_.limits.max_total_bytes)));
        case core::Errc::duration_exceeded:
          return error(fmt::format("Recording duration exceeds limit ({})", duration_text(ctx_.limits.max_duration)));
        default: return error(ack.error().message);
      }
    }
    if (ack->duplicate) return;
    if (++chunks_ % 100 == 0) {
      auto r = ctx_.service.get(*current_);
      const double mb = r ? static_cast<double>(r->ledger.total_bytes()) / (1024.0 * 1024.0) : 0.0;
      send("progress", [&](json::Writer& w) {
        json::put(w, "chunks_received", chunks_);
        json::put(w, "total_size_mb", static_cast<double>(static_cast<long long>(mb * 100.0 + 0.5)) / 100.0);
      });
    }
  }

  void stop() {
    if (!current_) return error("Recording not started. Send 'start' action first");
    auto stopped = ctx_.service.stop(*current_, core::StopReason::manual);
    current_.reset();
    if (!stopped) return error(stopped.error().message);
    send("recording_stopped",
         [&](json::Writer& w) { json::put(w, "duration_seconds", stopped->duration_seconds.value_or(0.0)); });
    send("processing_started", [&](json::Writer& w) { json::put(w, "message", "Transcription and diarization started"); });
    if (stopped->state == core::State::ready || stopped->state == core::State::failed)
      on_notice({"", {}, stopped->state == core::State::ready ? core::Notice::ready : core::Notice::failed, *stopped});
  }

  void error(const std::string& message) {
    send("error", [&](json::Writer& w) { json::put(w, "message", message); });
  }

  template <typename Fill>
  void send(std::string_view type, Fill fill) {
    rapidjson::StringBuffer buffer;
    json::Writer w(buffer);
    w.StartObject();
    json::put(w, "type", type);
    fill(w);
    w.EndObject();
    ctx_.out.send_text(std::string(buffer.GetString(), buffer.GetSize()));
  }

  DialectContext ctx_;
  std::string session_id_;
  std::optional<core::RecordingId> current_;
  std::uint64_t chunks_ = 0;
};

}  // namespace

std::unique_ptr<DialectSession> make_action_session(DialectContext ctx, std::string session_id) {
  return std::make_unique<ActionSession>(ctx, std::move(session_id));
}

}  // namespace recorder::adapters::websocket
