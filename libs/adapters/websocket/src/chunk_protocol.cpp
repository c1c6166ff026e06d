// Seed 001's recording protocol, apart from its framing: see chunk_protocol.hpp.

#include "chunk_protocol.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "recorder/adapters/json/json.hpp"

namespace recorder::adapters::websocket {

template <typename Fill>
void ChunkProtocol::send(std::string_view event, std::string_view record_id, Fill fill) {
  rapidjson::StringBuffer buffer;
  json::Writer w(buffer);
  w.StartObject();
  fill(w);
  w.EndObject();
  emit_(event, record_id, std::string(buffer.GetString(), buffer.GetSize()));
}

void ChunkProtocol::notice(const core::RecordingNotice& n) {
  const core::Recording& r = n.recording;
  if (n.notice == core::Notice::ready) {
    send("recordingReady", r.id, [&](json::Writer& w) {
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
    send("recordingError", r.id, [&](json::Writer& w) {
      json::put(w, "recordId", r.id);
      json::put(w, "missingChunks", r.missing_chunks);
      json::put(w, "totalExpected", r.ledger.next_index());
      json::put(w, "error", r.error);
      const auto original = std::ranges::find(r.files, core::FileRole::original, &core::MediaFile::role);
      if (original != r.files.end()) json::put(w, "downloadUrl", ctx_.host.download_url(original->path));
    });
  }
}

std::optional<std::string> ChunkProtocol::record_id(const rapidjson::Value& data, std::string_view event) {
  const auto* id = json::member(data, "recordId");
  if (!id || !id->IsString() || id->GetStringLength() == 0) {
    error(fmt::format("{} needs data.recordId, a non-empty string", event));
    return std::nullopt;
  }
  return std::string(id->GetString(), id->GetStringLength());
}

void ChunkProtocol::start(const rapidjson::Value& data) {
  auto id = record_id(data, "start");
  if (!id) return;
  std::string mime;
  if (const auto* m = json::member(data, "mimeType"); m && m->IsString()) mime = m->GetString();
  auto started = ctx_.service.start_stream(core::StreamStart{*id, "", mime, "", ctx_.limits});
  if (!started) return error(started.error().message);
  current_ = *id;
  open_.insert(*id);
  ctx_.host.watch(*id);
  send("started", *id, [&](json::Writer& w) {
    json::put(w, "recordId", *id);
    json::put(w, "resumed", started->resumed);
    json::put(w, "nextIndex", started->next_index);
    json::put(w, "missingChunks", started->missing);
  });
}

void ChunkProtocol::chunk(const rapidjson::Value& data, std::span<const std::string> attachments) {
  auto id = record_id(data, "chunk");
  if (!id) return;
  std::optional<core::ChunkIndex> index;
  if (const auto* i = json::member(data, "index"); i && !i->IsNull()) {
    if (!i->IsUint64()) return chunk_error(*id, std::nullopt, "index must be a whole number of 0 or more");
    index = i->GetUint64();
  }
  const auto* payload = json::member(data, "data");
  if (payload && payload->IsObject() && !attachments.empty()) {
    // A Socket.IO binary attachment; the session checked the placeholder's number.
    const auto* num = json::member(*payload, "num");
    if (!num || !num->IsUint64() || num->GetUint64() >= attachments.size())
      return chunk_error(*id, index, "data.data is a placeholder for an attachment that was not sent");
    return store(*id, index, attachments[num->GetUint64()]);
  }
  if (!payload || !payload->IsString())
    return chunk_error(*id, index, "chunk needs data.data, a base64 string (over Socket.IO also a binary attachment)");
  auto bytes = decode_base64(std::string_view(payload->GetString(), payload->GetStringLength()));
  if (!bytes) return chunk_error(*id, index, "data.data is not valid base64");
  store(*id, index, *bytes);
}

void ChunkProtocol::stop(const rapidjson::Value& data) {
  auto id = record_id(data, "stop");
  if (!id) return;
  open_.erase(*id);
  ctx_.host.watch(*id);
  auto stopped = ctx_.service.stop(*id, core::StopReason::manual);
  if (!stopped) return error(stopped.error().message);
  if (current_ == *id) current_.reset();
  // Already finished (a second stop, or finalized after a drop): answer now.
  if (stopped->state == core::State::ready) notice({"", {}, core::Notice::ready, *stopped});
  if (stopped->state == core::State::failed) notice({"", {}, core::Notice::failed, *stopped});
}

void ChunkProtocol::binary(const std::string& bytes) {
  if (!current_) return error("a binary chunk needs a recording: send start first");
  store(*current_, std::nullopt, bytes);
}

void ChunkProtocol::closed() {
  for (const auto& id : open_) ctx_.service.stream_disconnected(id);
  open_.clear();
}

void ChunkProtocol::store(const std::string& id, std::optional<core::ChunkIndex> index, std::string_view bytes) {
  auto ack = ctx_.service.receive_chunk(id, index,
                                        std::span(reinterpret_cast<const std::byte*>(bytes.data()), bytes.size()));
  if (!ack) return chunk_error(id, index, ack.error().message);
  send("chunkAck", id, [&](json::Writer& w) {
    json::put(w, "recordId", id);
    json::put(w, "index", ack->index);
    json::put(w, "bytes", static_cast<std::uint64_t>(ack->bytes));
  });
}

void ChunkProtocol::chunk_error(const std::string& id, std::optional<core::ChunkIndex> index,
                                const std::string& message) {
  send("chunkError", id, [&](json::Writer& w) {
    json::put(w, "recordId", id);
    if (index) json::put(w, "index", *index);
    else json::put_null(w, "index");
    json::put(w, "error", message);
  });
}

void ChunkProtocol::refuse_chunk(const rapidjson::Value& data, const std::string& why) {
  auto id = record_id(data, "chunk");
  if (!id) return;
  std::optional<core::ChunkIndex> index;
  if (const auto* i = json::member(data, "index"); i && i->IsUint64()) index = i->GetUint64();
  chunk_error(*id, index, why);
}

void ChunkProtocol::error(const std::string& message) {
  send("error", "", [&](json::Writer& w) { json::put(w, "message", message); });
}

}  // namespace recorder::adapters::websocket
