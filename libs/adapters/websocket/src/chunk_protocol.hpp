#pragma once

// Seed 001's recording protocol (start / chunk / stop in; started, chunkAck, chunkError,
// recordingReady, recordingError, error out), apart from its framing: /ws/record wraps each
// reply in {"event", "data"}, /socket.io/ in a Socket.IO EVENT (docs/protocol.md sections
// 2 and 8). Every call for one connection comes from one strand, in order.

#include <functional>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>

#include <rapidjson/document.h>

#include "dialect.hpp"

namespace recorder::adapters::websocket {

class ChunkProtocol {
 public:
  // A reply: the event's name, the recording it is about (empty for `error`) and its data
  // object as JSON text.
  using Emit = std::function<void(std::string_view event, std::string_view record_id, std::string data_json)>;

  ChunkProtocol(DialectContext ctx, Emit emit) : ctx_(ctx), emit_(std::move(emit)) {}

  // `data` is the event's data object. A chunk's bytes are data.data as base64 or, when
  // data.data is a Socket.IO placeholder {"_placeholder": true, "num": n}, attachments[n].
  void start(const rapidjson::Value& data);
  void chunk(const rapidjson::Value& data, std::span<const std::string> attachments = {});
  void stop(const rapidjson::Value& data);
  // A binary message: a chunk of the current recording with the next index.
  void binary(const std::string& bytes);
  // The connection dropped: every recording started here and not stopped enters grace.
  void closed();
  void notice(const core::RecordingNotice& n);
  void error(const std::string& message);
  // A chunk that cannot be stored (its bytes did not arrive): chunkError with `why`.
  void refuse_chunk(const rapidjson::Value& data, const std::string& why);

 private:
  std::optional<std::string> record_id(const rapidjson::Value& data, std::string_view event);
  void store(const std::string& id, std::optional<core::ChunkIndex> index, std::string_view bytes);
  void chunk_error(const std::string& id, std::optional<core::ChunkIndex> index, const std::string& message);
  template <typename Fill>
  void send(std::string_view event, std::string_view record_id, Fill fill);

  DialectContext ctx_;
  Emit emit_;
  std::optional<core::RecordingId> current_;
  std::set<core::RecordingId> open_;  // started here and not stopped by the client
};

}  // namespace recorder::adapters::websocket
