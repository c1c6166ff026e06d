// Socket.IO v4 for seed 001's real client: the codecs and the session. See socketio.hpp
// and docs/protocol.md section 8.

#include "socketio.hpp"

#include <algorithm>
#include <charconv>
#include <map>

#include <fmt/format.h>

#include "chunk_protocol.hpp"
#include "recorder/adapters/json/json.hpp"

namespace recorder::adapters::websocket::socketio {
namespace {

core::Error bad(std::string message) { return core::Error{core::Errc::invalid_argument, std::move(message), {}}; }

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Digits at `i` as a number below 10^15 (Socket.IO's ids and counts are JavaScript numbers).
std::optional<std::uint64_t> digits(std::string_view s, std::size_t& i) {
  const std::size_t start = i;
  while (i < s.size() && is_digit(s[i])) ++i;
  if (i == start || i - start > 15) return std::nullopt;
  std::uint64_t v = 0;
  std::from_chars(s.data() + start, s.data() + i, v);
  return v;
}

}  // namespace

core::Result<EioPacket> decode_packet(std::string text) {
  if (text.empty()) return std::unexpected(bad("an empty Engine.IO packet"));
  if (text[0] < '0' || text[0] > '6')
    return std::unexpected(bad(fmt::format("unknown Engine.IO packet type '{}'", static_cast<unsigned char>(text[0]) < 0x20 ? '?' : text[0])));
  const auto type = static_cast<EioType>(text[0]);
  text.erase(0, 1);  // in place: a message may be a chunk in base64
  return EioPacket{type, false, std::move(text), {}};
}

core::Result<std::vector<EioPacket>> decode_payload(std::string_view body) {
  std::vector<EioPacket> out;
  while (true) {
    const auto sep = body.find('\x1e');
    const std::string_view part = body.substr(0, sep);
    if (!part.empty() && part[0] == 'b') {
      auto bytes = decode_base64(part.substr(1));
      EioPacket p{EioType::message, true, bytes ? std::move(*bytes) : std::string{}, {}};
      if (!bytes) {
        // socket.io-client's polling transport sends a Blob as the part of its data: URL
        // after the first comma, so a Blob whose type has a comma (MediaRecorder's
        // "video/webm;codecs=vp8,opus") arrives as "bopus;base64" and its bytes are lost.
        std::string shown(part.substr(1, 24));
        for (char& c : shown)
          if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f || c == '\'') c = '?';
        p.unreadable = fmt::format(
            "a binary attachment arrived as '{}{}', not base64: its bytes were lost on the way. socket.io-client's "
            "long-polling cannot send a Blob whose type has a comma (such as video/webm;codecs=vp8,opus); send "
            "the chunk as an ArrayBuffer (await blob.arrayBuffer()) or connect with transports: ['websocket']",
            shown, part.size() > 25 ? "..." : "");
      }
      out.push_back(std::move(p));
    } else {
      auto p = decode_packet(std::string(part));
      if (!p) return std::unexpected(bad(fmt::format("packet {} of the payload: {}", out.size() + 1, p.error().message)));
      out.push_back(std::move(*p));
    }
    if (sep == std::string_view::npos) break;
    body.remove_prefix(sep + 1);
  }
  return out;
}

std::string encode_payload(const std::vector<std::string>& packets) {
  std::string out;
  for (const auto& p : packets) {
    if (!out.empty()) out += '\x1e';
    out += p;
  }
  return out;
}

core::Result<SioPacket> decode_sio(std::string s) {
  if (s.empty()) return std::unexpected(bad("an empty Socket.IO packet"));
  if (s[0] < '0' || s[0] > '6') return std::unexpected(bad("unknown Socket.IO packet type"));
  SioPacket p;
  p.type = static_cast<SioType>(s[0] - '0');
  std::size_t i = 1;
  if (p.type == SioType::binary_event || p.type == SioType::binary_ack) {
    auto n = digits(s, i);
    if (!n || i >= s.size() || s[i] != '-')
      return std::unexpected(bad("a binary packet starts with its attachment count and '-'"));
    if (*n > kMaxAttachments)
      return std::unexpected(bad(fmt::format("{} attachments announced; at most {}", *n, kMaxAttachments)));
    p.attachments = *n;
    ++i;
  }
  if (i < s.size() && s[i] == '/') {
    const auto comma = s.find(',', i);
    p.nsp = std::string(s.substr(i, comma == std::string_view::npos ? std::string_view::npos : comma - i));
    i = comma == std::string_view::npos ? s.size() : comma + 1;
  }
  if (i < s.size() && is_digit(s[i])) {
    auto id = digits(s, i);
    if (!id) return std::unexpected(bad("an acknowledgement id of more than 15 digits"));
    p.id = id;
  }
  s.erase(0, i);  // in place, as above
  p.json = std::move(s);
  return p;
}

std::string encode_event(std::string_view event, std::string_view data_json) {
  return fmt::format(R"(2["{}",{}])", event, data_json);
}

std::string encode_ack(std::uint64_t id, std::string_view data_json) { return fmt::format("3{}[{}]", id, data_json); }

namespace {

std::string message_json(std::string_view message) {
  rapidjson::StringBuffer b;
  json::Writer w(b);
  w.StartObject();
  json::put(w, "message", message);
  w.EndObject();
  return std::string(b.GetString(), b.GetSize());
}

// The placeholders of a binary packet's payload: each {"_placeholder": true, "num": n} must
// name an attachment that was announced. Depth is bounded by json::parse.
bool placeholders_valid(const rapidjson::Value& v, std::uint64_t attachments) {
  if (v.IsArray()) {
    for (const auto& e : v.GetArray())
      if (!placeholders_valid(e, attachments)) return false;
  } else if (v.IsObject()) {
    if (const auto* ph = json::member(v, "_placeholder"); ph && ph->IsBool() && ph->GetBool()) {
      const auto* num = json::member(v, "num");
      return num && num->IsUint64() && num->GetUint64() < attachments;
    }
    for (const auto& m : v.GetObject())
      if (!placeholders_valid(m.value, attachments)) return false;
  }
  return true;
}

class SioSession final : public Session {
 public:
  explicit SioSession(SessionContext ctx)
      : ctx_(std::move(ctx)),
        protocol_(ctx_.dialect, [this](std::string_view event, std::string_view record_id, std::string data) {
          reply(event, record_id, std::move(data));
        }) {}

  bool connected() const override { return connected_; }

  void on_text(std::string&& text) override {
    if (pending_) return broken("a text packet arrived while binary attachments were awaited");
    auto p = decode_sio(std::move(text));
    if (!p) return broken(p.error().message);
    if (p->attachments > 0) {
      pending_ = std::move(*p);
      attachments_.clear();
      return;
    }
    dispatch(*p);
  }

  void on_binary(std::string&& bytes) override {
    if (!pending_) return broken("a binary message arrived that no packet announced");
    attachments_.push_back(std::move(bytes));
    if (attachments_.size() < pending_->attachments) return;
    SioPacket p = std::move(*pending_);
    pending_.reset();
    dispatch(p);
    attachments_.clear();
    unreadable_.clear();
  }

  void on_unreadable_binary(const std::string& why) override {
    if (!pending_) return broken("a binary message arrived that no packet announced");
    unreadable_ = why;
    on_binary({});
  }

  void on_close() override {
    connected_ = false;
    protocol_.closed();
  }

  void on_notice(const core::RecordingNotice& n) override { protocol_.notice(n); }

 private:
  void dispatch(const SioPacket& p) {
    switch (p.type) {
      case SioType::connect: return connect(p);
      case SioType::disconnect:
        if (p.nsp == "/" && connected_) {
          // The client left the namespace: its recordings enter grace as on a drop.
          connected_ = false;
          protocol_.closed();
        }
        return;
      case SioType::event:
      case SioType::binary_event: return event(p);
      case SioType::ack:
      case SioType::binary_ack: return;  // recorderd asks the client for no acknowledgement
      case SioType::connect_error: return broken("CONNECT_ERROR is sent by servers only");
    }
  }

  void connect(const SioPacket& p) {
    if (p.nsp != "/") {
      // Socket.IO's own answer; the connection stays for the default namespace.
      return ctx_.dialect.out.send_text(fmt::format("4{},{}", p.nsp, message_json("Invalid namespace")));
    }
    std::string token;
    if (!p.json.empty()) {
      rapidjson::Document doc;
      if (auto err = json::parse(doc, p.json)) return broken(fmt::format("CONNECT: malformed auth JSON: {}", *err));
      if (!doc.IsObject()) return broken("CONNECT: the auth payload must be an object");
      if (const auto* t = json::member(doc, "token"); t && t->IsString()) token.assign(t->GetString(), t->GetStringLength());
    }
    if (ctx_.authorize) {
      if (auto allowed = ctx_.authorize(token); !allowed)
        return ctx_.dialect.out.send_text("4" + message_json(allowed.error().message));
    }
    connected_ = true;
    ctx_.dialect.out.send_text(fmt::format(R"(0{{"sid":"{}"}})", ctx_.sid));
  }

  void event(const SioPacket& p) {
    if (p.nsp != "/" || !connected_)
      return broken(p.nsp != "/" ? fmt::format("an event for namespace '{}', which is not connected", p.nsp)
                                 : "an event before CONNECT");
    rapidjson::Document doc;
    if (auto err = json::parse(doc, p.json)) return broken(fmt::format("an event whose payload is not JSON: {}", *err));
    if (!doc.IsArray() || doc.Empty() || !doc[0].IsString())
      return broken("an event's payload is an array that starts with the event's name");
    if (p.attachments > 0 && !placeholders_valid(doc, p.attachments))
      return broken("a placeholder names an attachment that was not announced");
    ack_ = p.id;
    const std::string_view name(doc[0].GetString(), doc[0].GetStringLength());
    const rapidjson::Value* data = doc.Size() > 1 ? &doc[1] : nullptr;
    if (!unreadable_.empty()) {
      // Answered as a failed request: the client learns which chunk to send again.
      if (name == "chunk" && data && data->IsObject()) protocol_.refuse_chunk(*data, unreadable_);
      else protocol_.error(unreadable_);
    } else if (name != "start" && name != "chunk" && name != "stop") {
      protocol_.error(fmt::format("Unknown event '{}': expected start, chunk or stop", name));
    } else if (!data || !data->IsObject()) {
      protocol_.error(fmt::format("event '{}' needs a data object", name));
    } else if (name == "start") {
      protocol_.start(*data);
    } else if (name == "chunk") {
      protocol_.chunk(*data, attachments_);
    } else {
      const auto* id = json::member(*data, "recordId");
      protocol_.stop(*data);
      // Not finished yet: the acknowledgement waits for recordingReady or recordingError.
      if (ack_ && id && id->IsString()) {
        auto& waiting = stop_acks_[std::string(id->GetString(), id->GetStringLength())];
        if (waiting.size() < 64) waiting.push_back(*ack_);  // a client repeating stop waits on the first 64
      }
    }
    ack_.reset();
  }

  // Every reply is an event; a request's first reply also answers its acknowledgement; a
  // recording's last (recordingReady, recordingError) is followed by `finished`.
  void reply(std::string_view event, std::string_view record_id, const std::string& data) {
    ctx_.dialect.out.send_text(encode_event(event, data));
    if (ack_) {
      ctx_.dialect.out.send_text(encode_ack(*ack_, data));
      ack_.reset();
    }
    if (event == "recordingReady" || event == "recordingError") {
      if (auto it = stop_acks_.find(record_id); it != stop_acks_.end()) {
        for (auto waiting : it->second) ctx_.dialect.out.send_text(encode_ack(waiting, data));
        stop_acks_.erase(it);
      }
      ctx_.dialect.out.send_text(encode_event("finished", data));
    }
  }

  void broken(const std::string& why) {
    pending_.reset();
    attachments_.clear();
    ctx_.dialect.out.close(fmt::format("Socket.IO protocol error: {}", why));
  }

  SessionContext ctx_;
  ChunkProtocol protocol_;
  bool connected_ = false;
  std::optional<SioPacket> pending_;  // a binary packet awaiting its attachments
  std::vector<std::string> attachments_;
  std::string unreadable_;  // why one of them is lost, if one is
  std::optional<std::uint64_t> ack_;  // the acknowledgement the current request asked for
  std::map<std::string, std::vector<std::uint64_t>, std::less<>> stop_acks_;  // stops awaiting their recording's end
};

}  // namespace

std::unique_ptr<Session> make_session(SessionContext ctx) { return std::make_unique<SioSession>(std::move(ctx)); }

}  // namespace recorder::adapters::websocket::socketio
