// JSON-RPC 2.0 over WebSocket on /rpc (seed 003): docs/protocol.md section 4.

#include <algorithm>
#include <functional>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>

#include <fmt/format.h>

#include "dialect.hpp"
#include "recorder/adapters/json/json.hpp"
#include "recorder/core/app/error_mapping.hpp"

namespace recorder::adapters::websocket {
namespace {

using Params = const rapidjson::Value*;  // the request's params object, or null

// How long stop_recording waits for the pipeline; longer than the core's default stop
// timeout (30 s), after which the core finalizes the capture anyway.
constexpr std::chrono::seconds kStopWait{40};

struct RpcError {
  int code;
  std::string message;
  std::function<void(json::Writer&)> data;  // empty: no "data"
};

using Reply = std::variant<std::function<void(json::Writer&)>, RpcError>;  // a result writer, or an error

std::optional<std::string> string_param(Params p, const char* name) {
  const auto* v = p ? json::member(*p, name) : nullptr;
  if (!v || !v->IsString()) return std::nullopt;
  return std::string(v->GetString(), v->GetStringLength());
}

std::string iso_time(core::WallTime t) {
  const auto secs = std::chrono::floor<std::chrono::seconds>(t);
  const std::time_t tt = std::chrono::system_clock::to_time_t(secs);
  std::tm tm{};
  ::gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// The most requests one batch may carry (docs/protocol.md, "Limits"): a batch is answered
// as one message, so without a bound one frame could ask for thousands of starts.
constexpr rapidjson::SizeType kMaxBatch = 100;

class RpcSession final : public DialectSession {
 public:
  explicit RpcSession(RpcContext ctx) : ctx_(std::move(ctx)) {}

  void on_text(std::string&& text) override {
    rapidjson::Document doc;
    if (auto err = json::parse(doc, text)) return send_single(nullptr, RpcError{-32700, "Parse error: " + *err, {}});
    if (doc.IsArray()) {
      if (doc.Empty()) return send_single(nullptr, RpcError{-32600, "Invalid Request: empty batch", {}});
      if (doc.Size() > kMaxBatch)
        return send_single(nullptr, RpcError{-32600, fmt::format("Invalid Request: a batch holds at most {} requests; "
                                                                 "this one has {}",
                                                                 kMaxBatch, doc.Size()),
                                             {}});
      rapidjson::StringBuffer buffer;
      json::Writer w(buffer);
      w.StartArray();
      bool any = false;
      for (const auto& request : doc.GetArray()) any |= handle(request, w);
      w.EndArray();
      if (any) ctx_.out.send_text(std::string(buffer.GetString(), buffer.GetSize()));
      return;
    }
    rapidjson::StringBuffer buffer;
    json::Writer w(buffer);
    if (handle(doc, w)) ctx_.out.send_text(std::string(buffer.GetString(), buffer.GetSize()));
  }

  void on_binary(std::string&&) override {
    send_single(nullptr, RpcError{-32700, "Parse error: JSON-RPC requests are text frames", {}});
  }
  void on_close() override {}
  void on_notice(const core::RecordingNotice&) override {}

 private:
  // Writes the response to `request` into `w`; false for a notification (no id: no answer).
  bool handle(const rapidjson::Value& request, json::Writer& w) {
    const rapidjson::Value* id = json::member(request, "id");
    const bool valid_id = id && (id->IsString() || id->IsNumber() || id->IsNull());
    const auto* version = json::member(request, "jsonrpc");
    const auto* method = json::member(request, "method");
    if (!request.IsObject() || !version || !version->IsString() || std::string(version->GetString()) != "2.0" ||
        !method || !method->IsString() || (id && !valid_id)) {
      write(w, valid_id ? id : nullptr,
            RpcError{-32600, "Invalid Request: expected {\"jsonrpc\": \"2.0\", \"method\": <string>, \"id\": ...}", {}});
      return true;
    }
    const auto* params = json::member(request, "params");
    if (params && !params->IsObject() && !params->IsArray()) {
      if (!id) return false;
      write(w, id, RpcError{-32602, "Invalid params: params must be an object", {}});
      return true;
    }
    Reply reply = dispatch(method->GetString(), params && params->IsObject() ? params : nullptr);
    if (!id) return false;
    write(w, id, reply);
    return true;
  }

  Reply dispatch(const std::string& method, Params p) {
    if (method == "ping") return [](json::Writer& w) { w.String("pong"); };
    if (method == "get_camera_list") return camera_list();
    if (method == "get_camera_status") return with_camera(p, [this](const auto& cam) { return camera_status(cam); });
    if (method == "start_recording") return start(p);
    if (method == "stop_recording") return stop(p);
    if (method == "get_storage_info") return storage_info();
    if (method == "list_recordings") return list(p);
    return RpcError{-32601, fmt::format("Method not found: {}", method), {}};
  }

  using Camera = core::Device;

  // The camera named by params.device: its name (camera_id) or its device path.
  template <typename F>
  Reply with_camera(Params p, F f) {
    auto device = string_param(p, "device");
    if (!device) return RpcError{-32602, "Invalid params: device (a string) is required", {}};
    const core::Device* cam = core::find_device(ctx_.devices, *device);
    if (!cam) return RpcError{-32602, fmt::format("Invalid params: no camera '{}' (see get_camera_list)", *device), {}};
    return f(*cam);
  }

  static std::string device_of(const Camera& c) { return core::device_path(c); }

  void write_status(json::Writer& w, const Camera& cam, std::optional<core::StorageLevel> storage) {
    const auto live = ctx_.service.live_on(cam.name);
    w.StartObject();
    json::put(w, "camera_id", cam.name);
    json::put(w, "device", device_of(cam));
    json::put(w, "status", "connected");
    // The storage guard's flag: true at or above the warn threshold.
    json::put(w, "storage_warning", storage.has_value() && *storage != core::StorageLevel::normal);
    json::put(w, "recording", live.has_value());
    if (live) {
      json::put(w, "recording_session", live->id);
      json::put(w, "state", core::to_string(live->state));
      // The file being written now (seed 003 names it at start; it changes at each rotation).
      if (!live->current_file.empty()) json::put(w, "current_file", live->current_file);
      else json::put_null(w, "current_file");
      json::put(w, "elapsed_time", static_cast<std::uint64_t>(ctx_.service.elapsed_seconds(*live)));
    } else {
      json::put_null(w, "recording_session");
      json::put_null(w, "current_file");
      json::put(w, "elapsed_time", std::uint64_t{0});
    }
    w.EndObject();
  }

  // A query: reading the level never alerts or stops anything.
  std::optional<core::StorageLevel> storage_level() {
    auto status = ctx_.service.storage_status();
    return status ? std::optional{status->level} : std::nullopt;
  }

  Reply camera_status(const Camera& cam) {
    return [this, cam, level = storage_level()](json::Writer& w) { write_status(w, cam, level); };
  }

  Reply camera_list() {
    return [this, level = storage_level()](json::Writer& w) {
      w.StartObject();
      w.Key("cameras");
      w.StartArray();
      for (const auto& cam : ctx_.devices) write_status(w, cam, level);
      w.EndArray();
      json::put(w, "total", static_cast<std::uint64_t>(ctx_.devices.size()));
      w.EndObject();
    };
  }

  Reply start(Params p) {
    std::optional<core::Seconds> duration;
    if (const auto* d = p ? json::member(*p, "duration") : nullptr; d && !d->IsNull()) {
      if (!d->IsUint64() || d->GetUint64() == 0)
        return RpcError{-32602, "Invalid params: duration must be a whole number of seconds above 0", {}};
      duration = core::Seconds{static_cast<core::Seconds::rep>(d->GetUint64())};
    }
    std::string format = string_param(p, "format").value_or("mp4");
    if (format != "mp4") return RpcError{-32602, "Invalid params: format must be 'mp4' for a camera", {}};
    return with_camera(p, [&](const Camera& cam) -> Reply {
      auto started = ctx_.service.start_capture(core::CaptureStart{cam.name, format, duration, "", ""});
      if (!started) return error_of(started.error(), cam);
      const core::Recording r = *started;
      return [r, cam, format](json::Writer& w) {
        w.StartObject();
        json::put(w, "camera_id", cam.name);
        json::put(w, "device", device_of(cam));
        json::put(w, "session_id", r.id);
        json::put(w, "status", core::to_string(r.state));
        json::put(w, "format", format);
        if (r.expected_duration) json::put(w, "duration", static_cast<std::uint64_t>(r.expected_duration->count()));
        w.EndObject();
      };
    });
  }

  Reply stop(Params p) {
    return with_camera(p, [&](const Camera& cam) -> Reply {
      const auto live = ctx_.service.live_on(cam.name);
      if (!live) return RpcError{-32602, fmt::format("Invalid params: camera '{}' is not recording", cam.name), {}};
      auto stopped = ctx_.service.stop(live->id, core::StopReason::manual);
      if (!stopped) return error_of(stopped.error(), cam);
      // Answer once the camera has stopped: a status or a start right after this answer
      // sees a free camera. The core's stop timeout bounds the wait.
      // A mutex and a condition variable, not std::promise: libstdc++'s future waits in
      // its uninstrumented library, where ThreadSanitizer cannot see the hand-over.
      struct Released {
        std::mutex m;
        std::condition_variable cv;
        std::optional<core::Result<core::Recording>> result;
      };
      auto released = std::make_shared<Released>();
      ctx_.service.when_released(live->id, [released](core::Result<core::Recording> r) {
        std::lock_guard lock(released->m);
        released->result = std::move(r);
        released->cv.notify_all();
      });
      std::unique_lock lock(released->m);
      if (!released->cv.wait_for(lock, kStopWait, [&] { return released->result.has_value(); }))
        return RpcError{-32603, fmt::format("camera '{}' did not confirm its stop within {} s", cam.name, kStopWait.count()),
                        {}};
      auto after = std::move(*released->result);
      const core::Recording r = after ? *after : *stopped;
      return [r, cam](json::Writer& w) {
        w.StartObject();
        json::put(w, "camera_id", cam.name);
        json::put(w, "session_id", r.id);
        json::put(w, "status", core::to_string(r.state));
        json::put(w, "duration", r.duration_seconds.value_or(0.0));
        w.EndObject();
      };
    });
  }

  Reply storage_info() {
    auto status = ctx_.service.storage_status();
    if (!status) return RpcError{-1005, "Storage information unavailable", {}};
    const auto policy = ctx_.service.storage_policy();
    const core::StorageStatus s = *status;
    return [s, policy](json::Writer& w) {
      w.StartObject();
      json::put(w, "total_space", s.info.total_bytes);
      json::put(w, "available_space", s.info.available_bytes);
      json::put(w, "used_percent", s.used_percent);
      json::put(w, "warn_threshold", policy.warn_percent);
      json::put(w, "block_threshold", policy.block_percent);
      json::put(w, "level", core::to_string(s.level));
      w.EndObject();
    };
  }

  Reply list(Params p) {
    core::RecordingQuery q;
    if (auto state = string_param(p, "state")) {
      q.state = core::parse_state(*state);
      if (!q.state) return RpcError{-32602, fmt::format("Invalid params: unknown state '{}'", *state), {}};
    }
    if (const auto* l = p ? json::member(*p, "limit") : nullptr; l && !l->IsNull()) {
      if (!l->IsUint64() || l->GetUint64() == 0 || l->GetUint64() > 1000)
        return RpcError{-32602, "Invalid params: limit must be a whole number from 1 to 1000", {}};
      q.limit = l->GetUint64();
    }
    auto rows = ctx_.service.list(q);
    if (!rows) return RpcError{core::rpc_code(rows.error().code), rows.error().message, {}};
    auto recordings = std::move(*rows);
    return [recordings = std::move(recordings)](json::Writer& w) {
      w.StartObject();
      w.Key("recordings");
      w.StartArray();
      for (const auto& r : recordings) {
        w.StartObject();
        json::put(w, "session_id", r.id);
        json::put(w, "kind", core::to_string(r.kind));
        json::put(w, "device", r.meta.device);
        json::put(w, "state", core::to_string(r.state));
        json::put(w, "status", core::to_string(r.outcome));
        json::put(w, "stop_reason", core::to_string(r.stop_reason));
        json::put(w, "created_at", iso_time(r.created_at));
        if (r.duration_seconds) json::put(w, "duration", *r.duration_seconds);
        w.Key("files");
        w.StartArray();
        for (const auto& f : r.files) w.String(f.path.c_str(), static_cast<rapidjson::SizeType>(f.path.size()));
        w.EndArray();
        w.EndObject();
      }
      w.EndArray();
      json::put(w, "total", static_cast<std::uint64_t>(recordings.size()));
      w.EndObject();
    };
  }

  // Seed 003's codes, messages and data for the core's errors.
  Reply error_of(const core::Error& e, const Camera& cam) {
    switch (e.code) {
      case core::Errc::device_busy:
        return RpcError{-1006, "Camera is currently recording", [cam, session = e.related_id](json::Writer& w) {
                          json::put(w, "camera_id", cam.name);
                          json::put(w, "session_id", session);
                        }};
      case core::Errc::storage_low:
      case core::Errc::storage_critical: {
        auto status = ctx_.service.storage_status();
        const auto info = status ? status->info : core::StorageInfo{};
        const bool low = e.code == core::Errc::storage_low;
        return RpcError{low ? -1008 : -1010, low ? "Storage space is low" : "Storage space is critical",
                        [info, detail = e.message](json::Writer& w) {
                          json::put(w, "available_space", info.available_bytes);
                          json::put(w, "total_space", info.total_bytes);
                          json::put(w, "detail", detail);
                        }};
      }
      default: return RpcError{core::rpc_code(e.code), e.message, {}};
    }
  }

  void write(json::Writer& w, const rapidjson::Value* id, const Reply& reply) {
    w.StartObject();
    json::put(w, "jsonrpc", "2.0");
    if (const auto* result = std::get_if<0>(&reply)) {
      w.Key("result");
      (*result)(w);
    } else {
      const RpcError& e = std::get<1>(reply);
      w.Key("error");
      w.StartObject();
      json::put(w, "code", static_cast<std::int64_t>(e.code));
      json::put(w, "message", e.message);
      if (e.data) {
        w.Key("data");
        w.StartObject();
        e.data(w);
        w.EndObject();
      }
      w.EndObject();
    }
    w.Key("id");
    if (id) id->Accept(w);
    else w.Null();
    w.EndObject();
  }

  void send_single(const rapidjson::Value* id, const Reply& reply) {
    rapidjson::StringBuffer buffer;
    json::Writer w(buffer);
    write(w, id, reply);
    ctx_.out.send_text(std::string(buffer.GetString(), buffer.GetSize()));
  }

  RpcContext ctx_;
};

}  // namespace

std::unique_ptr<DialectSession> make_rpc_session(RpcContext ctx) { return std::make_unique<RpcSession>(std::move(ctx)); }

}  // namespace recorder::adapters::websocket
