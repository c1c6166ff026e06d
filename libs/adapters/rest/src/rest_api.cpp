// The REST API: /api/* on the HTTP route table. Every handler runs on a worker thread (the
// listener's pool) and may block on the store. See rest_api.hpp and docs/protocol.md.

#include "recorder/adapters/rest/rest_api.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include <fmt/format.h>

#include "recorder/adapters/json/json.hpp"
#include "recorder/core/app/error_mapping.hpp"
#include "recorder/core/domain/time_text.hpp"
#include "views.hpp"

namespace recorder::adapters::rest {
namespace {

using core::Errc;
using http::Request;
using http::Response;
using json::put;
using json::put_null;
using Writer = json::Writer;
using namespace views;

constexpr std::size_t kDefaultLimit = 100;
constexpr std::size_t kMaxLimit = 1000;

// ---- answers ---------------------------------------------------------------------------

Response json_response(int status, const rapidjson::StringBuffer& body) {
  return Response{status, {{"Content-Type", "application/json"}}, std::string(body.GetString(), body.GetSize())};
}

// {"error": {"code", "message"[, "recording_id"]}} with the error's status.
Response error_response(const core::Error& e) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  w.Key("error");
  w.StartObject();
  put(w, "code", core::to_string(e.code));
  put(w, "message", e.message);
  if (!e.related_id.empty()) put(w, "recording_id", e.related_id);
  w.EndObject();
  w.EndObject();
  return json_response(core::http_status(e.code), buffer);  // the router adds a 401's challenge
}

Response bad_request(std::string message) { return error_response(core::Error{Errc::invalid_argument, std::move(message), {}}); }

Response recording_response(int status, const core::RecordingService& service, const core::Recording& r,
                            const Signing& signing) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  put_recording(w, r, service.elapsed_seconds(r), signing);
  return json_response(status, buffer);
}

void put_token(Writer& w, const core::ApiToken& t) {
  put(w, "id", t.id);
  put(w, "name", t.name);
  put(w, "role", core::to_string(t.role));
  put_time(w, "created_at", t.created_at);
  put_time(w, "last_used_at", t.last_used_at);
  put_time(w, "revoked_at", t.revoked_at);
}

// ---- requests --------------------------------------------------------------------------

// A JSON object body, or the 400 that says what is wrong with it.
std::variant<rapidjson::Document, Response> object_body(const Request& request) {
  rapidjson::Document doc;
  if (auto error = json::parse(doc, request.body)) return bad_request(fmt::format("the body is not JSON: {}", *error));
  if (!doc.IsObject()) return bad_request("the body must be a JSON object");
  return doc;
}

// A string member: nothing when absent, the 400 naming the field when of another type.
std::variant<std::optional<std::string>, Response> string_field(const rapidjson::Value& body, const char* name) {
  const auto* v = json::member(body, name);
  if (!v || v->IsNull()) return std::optional<std::string>{};
  if (!v->IsString()) return bad_request(fmt::format("{}: expected a string", name));
  return std::optional<std::string>{std::string(v->GetString(), v->GetStringLength())};
}

std::optional<std::uint64_t> to_number(std::string_view text) {
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return v;
}

// Cursors are opaque to clients: hex of "<created_at micros>:<id>" of a page's last item.
std::string encode_cursor(const core::Recording& r) {
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(r.created_at.time_since_epoch()).count();
  const std::string plain = fmt::format("{}:{}", micros, r.id);
  std::string out;
  out.reserve(plain.size() * 2);
  for (const char c : plain) out += fmt::format("{:02x}", static_cast<unsigned char>(c));
  return out;
}

std::optional<core::RecordingCursor> decode_cursor(std::string_view hex) {
  if (hex.empty() || hex.size() % 2 != 0 || hex.size() > 1024) return std::nullopt;
  std::string plain;
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    unsigned v = 0;
    const auto [end, ec] = std::from_chars(hex.data() + i, hex.data() + i + 2, v, 16);
    if (ec != std::errc{} || end != hex.data() + i + 2) return std::nullopt;
    plain += static_cast<char>(v);
  }
  const auto colon = plain.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == plain.size()) return std::nullopt;
  std::int64_t micros = 0;
  const auto [end, ec] = std::from_chars(plain.data(), plain.data() + colon, micros);
  if (ec != std::errc{} || end != plain.data() + colon) return std::nullopt;
  return core::RecordingCursor{core::WallTime{std::chrono::duration_cast<core::WallTime::duration>(
                                   std::chrono::microseconds{micros})},
                               plain.substr(colon + 1)};
}

// GET /api/recordings's query, or the 400 naming the parameter.
std::variant<core::RecordingQuery, Response> list_query(const Request& request) {
  core::RecordingQuery q;
  q.limit = kDefaultLimit;
  static constexpr std::array kKnown{"state", "kind", "device", "agent_id", "organizer", "session_id",
                                     "since", "until",  "limit",  "cursor",   "access_token"};
  for (const auto& [key, value] : request.query) {
    if (std::ranges::find(kKnown, key) == kKnown.end())
      return bad_request(fmt::format("unknown query parameter '{}'; expected one of {}", key, fmt::join(kKnown, ", ")));
  }
  if (auto v = request.query_value("state")) {
    q.finished = *v == "finished";  // ready or failed: what has ended and was not deleted
    if (!q.finished) q.state = core::parse_state(*v);
    if (!q.finished && !q.state)
      return bad_request(fmt::format("state: '{}' is not a state; expected starting, recording, interrupted, stale, "
                                     "stopping, finalizing, processing, ready, failed, deleted or finished",
                                     *v));
  }
  if (auto v = request.query_value("kind")) {
    q.kind = core::parse_source_kind(*v);
    if (!q.kind) return bad_request(fmt::format("kind: '{}' is not a kind; expected stream, agent or capture", *v));
  }
  if (auto v = request.query_value("device")) q.device = *v;
  if (auto v = request.query_value("agent_id")) q.agent_id = *v;
  if (auto v = request.query_value("organizer")) q.organizer = *v;
  if (auto v = request.query_value("session_id")) q.session_id = *v;
  for (const auto* name : {"since", "until"}) {
    if (auto v = request.query_value(name)) {
      auto t = core::parse_iso8601(*v);
      if (!t) return bad_request(fmt::format("{}: {}", name, t.error().message));
      (std::string_view(name) == "since" ? q.created_since : q.created_until) = *t;
    }
  }
  if (auto v = request.query_value("limit")) {
    const auto n = to_number(*v);
    if (!n || *n < 1 || *n > kMaxLimit)
      return bad_request(fmt::format("limit: '{}' is not a number from 1 to {}", v->substr(0, 32), kMaxLimit));
    q.limit = static_cast<std::size_t>(*n);
  }
  if (auto v = request.query_value("cursor")) {
    q.after = decode_cursor(*v);
    if (!q.after) return bad_request("cursor: not a cursor this server gave out (use next_cursor from the last page)");
  }
  return q;
}

// ---- the API -----------------------------------------------------------------------------

class Api : public std::enable_shared_from_this<Api> {
 public:
  explicit Api(const RestContext& ctx) : ctx_(ctx) {}

  using Handler = std::function<Response(const Request&, const core::ApiToken&)>;

  // Authentication, then authorization, then the handler: nothing about a recording is
  // looked at for a caller who may not see it.
  http::Router::Handler guarded(core::Role needed, std::string action, Handler handler) {
    return [self = shared_from_this(), needed, action = std::move(action), handler = std::move(handler)](const Request& r) {
      auto who = self->ctx_.access.authenticate(r.presented_token());
      if (!who) return error_response(who.error());
      if (auto allowed = core::AccessService::authorize(*who, needed, action); !allowed)
        return error_response(allowed.error());
      return handler(r, *who);
    };
  }

  // URLs in answers are signed for 24 hours (seed 004), on the Host the caller used.
  Signing signing(const Request& r, std::chrono::hours valid = std::chrono::hours{24}) const {
    return Signing{ctx_.links, r.header("Host").value_or(""), ctx_.clock.wall_now() + valid};
  }

  // A recording by its id, else by the caller's session_id (the newest with it).
  core::Result<core::Recording> resolve(const std::string& id) const { return ctx_.service.resolve(id); }

  Response list(const Request& request) const {
    auto parsed = list_query(request);
    if (auto* refused = std::get_if<Response>(&parsed)) return std::move(*refused);
    auto q = std::get<core::RecordingQuery>(std::move(parsed));
    const std::size_t limit = q.limit;
    q.limit = limit + 1;  // one more tells whether there is a next page
    auto found = ctx_.service.list(q);
    if (!found) return error_response(found.error());
    const bool more = found->size() > limit;
    if (more) found->resize(limit);
    rapidjson::StringBuffer buffer;
    Writer w(buffer);
    w.StartObject();
    w.Key("recordings");
    w.StartArray();
    const auto sign = signing(request);
    for (const auto& r : *found) put_recording(w, r, ctx_.service.elapsed_seconds(r), sign);
    w.EndArray();
    put(w, "count", static_cast<std::uint64_t>(found->size()));
    if (more) put(w, "next_cursor", encode_cursor(found->back()));
    else put_null(w, "next_cursor");
    w.EndObject();
    return json_response(200, buffer);
  }

  Response show(const Request& request) const {
    auto r = resolve(request.params.at("id"));
    if (!r) return error_response(r.error());
    return recording_response(200, ctx_.service, *r, signing(request));
  }

  Response create(const Request& request, const core::ApiToken& who) const {
    auto parsed = object_body(request);
    if (auto* refused = std::get_if<Response>(&parsed)) return std::move(*refused);
    const auto& body = std::get<rapidjson::Document>(parsed);
    static constexpr std::array kKnown{"kind",       "device",    "url",       "format",     "duration_seconds",
                                       "session_id", "agent_id",  "subject",   "organizer",  "start_time",
                                       "duration_expected", "notify"};
    for (const auto& m : body.GetObject()) {
      const std::string_view key(m.name.GetString(), m.name.GetStringLength());
      if (std::ranges::find(kKnown, key) == kKnown.end())
        return bad_request(fmt::format("unknown field '{}'; expected one of {}", key.substr(0, 64), fmt::join(kKnown, ", ")));
    }
    std::map<std::string, std::string, std::less<>> text;
    for (const char* name :
         {"kind", "device", "url", "format", "session_id", "agent_id", "subject", "organizer", "start_time"}) {
      auto v = string_field(body, name);
      if (auto* refused = std::get_if<Response>(&v)) return std::move(*refused);
      if (auto s = std::get<std::optional<std::string>>(std::move(v))) text[name] = std::move(*s);
    }
    const auto seconds = [&](const char* name) -> std::variant<std::optional<core::Seconds>, Response> {
      const auto* v = json::member(body, name);
      if (!v || v->IsNull()) return std::optional<core::Seconds>{};
      if (!v->IsUint64() || v->GetUint64() == 0 || v->GetUint64() > 7 * 86400)
        return bad_request(fmt::format("{}: expected whole seconds from 1 to 604800", name));
      return std::optional{core::Seconds{static_cast<core::Seconds::rep>(v->GetUint64())}};
    };
    const auto session_id = text.contains("session_id") ? text["session_id"] : std::string{};
    if (!session_id.empty()) {
      if (auto ok = core::check_recording_id(session_id); !ok) return bad_request("session_id: " + ok.error().message);
    }
    // Seed 004: who is e-mailed when it is ready, beside the organizer.
    std::vector<std::string> notify;
    if (const auto* list = json::member(body, "notify"); list && !list->IsNull()) {
      if (!list->IsArray() || list->Size() > 50)
        return bad_request("notify: expected a list of at most 50 e-mail addresses");
      for (const auto& a : list->GetArray()) {
        const std::string_view address = a.IsString() ? std::string_view(a.GetString(), a.GetStringLength()) : "";
        if (!core::is_email_address(address))
          return bad_request(fmt::format("notify: '{}' is not an e-mail address", address.substr(0, 100)));
        notify.emplace_back(address);
      }
    }
    const std::string kind = text.contains("kind") ? text["kind"] : "";
    if (kind == "capture") {
      std::string source;
      if (text.contains("url")) {
        // A URL is a request the server makes on the caller's behalf: admins only, and only
        // to addresses capture.allowed_urls names.
        if (text.contains("device")) return bad_request("device and url: give one, not both");
        if (auto allowed = core::AccessService::authorize(who, core::Role::admin, "capturing a URL"); !allowed)
          return error_response(allowed.error());
        if (!core::url_allowed(ctx_.allowed_urls, text["url"]))
          return error_response(core::Error{
              Errc::forbidden,
              fmt::format("url: '{}' matches no capture.allowed_urls pattern", text["url"].substr(0, 200)), {}});
        source = text["url"];
      } else {
        if (!text.contains("device"))
          return bad_request("device: required for a capture (GET /api/devices lists them), or url (admin)");
        const auto& name = text["device"];
        const auto* device = core::find_device(ctx_.devices, name);
        if (!device) {
          // In a cluster another instance may reach it: the answer says which.
          std::string elsewhere;
          if (ctx_.cluster) {
            if (auto view = ctx_.cluster(); view) {
              for (const core::InstanceStatus& i : view->instances)
                if (i.alive && std::ranges::find(i.devices, name) != i.devices.end())
                  elsewhere += fmt::format("{}'{}' at {}", elsewhere.empty() ? "" : ", ", i.id, i.address);
            }
          }
          if (!elsewhere.empty())
            return bad_request(fmt::format("device: '{}' is not reached by this instance ('{}'); start it through "
                                           "instance {}, which does",
                                           name.substr(0, 200), ctx_.instance, elsewhere));
          return bad_request(fmt::format("device: '{}' is not a configured device (GET /api/devices lists them)",
                                         name.substr(0, 200)));
        }
        source = device->name;
      }
      auto duration = seconds("duration_seconds");
      if (auto* refused = std::get_if<Response>(&duration)) return std::move(*refused);
      const std::string format = text.contains("format") ? text["format"] : "mp4";
      auto started = ctx_.service.start_capture(
          core::CaptureStart{source, format, std::get<std::optional<core::Seconds>>(duration), who.name, session_id,
                             notify});
      if (!started) return error_response(started.error());
      return recording_response(201, ctx_.service, *started, signing(request));
    }
    if (kind == "agent") {
      for (const char* required : {"agent_id", "subject", "organizer", "start_time"}) {
        if (!text.contains(required) || text[required].empty())
          return bad_request(fmt::format("{}: required for an agent recording", required));
      }
      auto expected = seconds("duration_expected");
      if (auto* refused = std::get_if<Response>(&expected)) return std::move(*refused);
      auto started = ctx_.service.start_agent_recording(
          core::AgentStart{text["agent_id"], text["subject"], text["organizer"], text["start_time"],
                           std::get<std::optional<core::Seconds>>(expected), session_id, notify});
      if (!started) return error_response(started.error());
      return recording_response(201, ctx_.service, *started, signing(request));
    }
    return bad_request(fmt::format("kind: expected \"capture\" or \"agent\"{}",
                                   kind.empty() ? "" : fmt::format(", got \"{}\"", kind.substr(0, 64))));
  }

  // Stops, then waits until the recording has let go of its source (a capture's pipeline
  // confirmed, or its stop timeout passed): 200 with the recording then; 202 with it as it
  // stands when that takes longer than stop_wait.
  Response stop(const Request& request) const {
    auto r = resolve(request.params.at("id"));
    if (!r) return error_response(r.error());
    auto stopped = ctx_.service.stop(r->id, core::StopReason::manual);
    if (!stopped) return error_response(stopped.error());
    bool in_time = false;
    if (ctx_.service.held_here(r->id)) {
      auto released = std::make_shared<std::promise<void>>();
      auto done = released->get_future();
      ctx_.service.when_released(r->id, [released](const core::Result<core::Recording>&) { released->set_value(); });
      in_time = done.wait_for(ctx_.stop_wait) == std::future_status::ready;
    } else {
      // Stopped by the instance that holds it (or ended already): its row says when it is
      // released.
      const auto deadline = std::chrono::steady_clock::now() + ctx_.stop_wait;
      for (;;) {
        auto seen = ctx_.service.get(r->id);
        if (!seen || !core::is_live(seen->state)) {
          in_time = true;
          break;
        }
        if (std::chrono::steady_clock::now() >= deadline) break;
        std::this_thread::sleep_for(std::chrono::milliseconds{50});
      }
    }
    auto now = ctx_.service.get(r->id);
    if (!now) return error_response(now.error());
    return recording_response(in_time ? 200 : 202, ctx_.service, *now, signing(request));
  }

  // Seed 004's delete: admin only. A live recording is refused with 409 (stop it first):
  // deleting media a client is still sending would lose what it sends next.
  Response remove(const Request& request) const {
    auto r = resolve(request.params.at("id"));
    if (!r) return error_response(r.error());
    auto removed = ctx_.service.remove(r->id);
    if (!removed) return error_response(removed.error());
    rapidjson::StringBuffer buffer;
    Writer w(buffer);
    w.StartObject();
    put(w, "session_id", removed->meta.session_id.empty() ? removed->id : removed->meta.session_id);
    put(w, "recording_id", removed->id);
    put(w, "deleted", true);
    put(w, "message", "Recording deleted successfully");
    w.Key("recording");
    put_recording(w, *removed, ctx_.service.elapsed_seconds(*removed), signing(request));
    w.EndObject();
    return json_response(200, buffer);
  }

  // Seed 004's signed URL: {"session_id", "signed_url", "expires_at"}, and one per file.
  Response url(const Request& request) const {
    if (!ctx_.links) return error_response(core::Error{Errc::unavailable, "this recorderd signs no media URLs", {}});
    std::int64_t hours = 24;
    if (auto v = request.query_value("expiry_hours")) {
      const auto n = to_number(*v);
      if (!n || *n < 1 || *n > static_cast<std::uint64_t>(ctx_.max_url_hours.count()))
        return bad_request(fmt::format("expiry_hours: '{}' is not a whole number of hours from 1 to {} "
                                       "(media.max_url_hours)",
                                       v->substr(0, 32), ctx_.max_url_hours.count()));
      hours = static_cast<std::int64_t>(*n);
    }
    auto r = resolve(request.params.at("id"));
    if (!r) return error_response(r.error());
    const auto* main = r->state == core::State::deleted ? nullptr : core::main_file(*r);
    if (!main)
      return error_response(core::Error{Errc::invalid_state,
                                        fmt::format("recording {} has no file to open yet (it is {})", r->id,
                                                    core::to_string(r->state)),
                                        {}});
    const auto sign = signing(request, std::chrono::hours{hours});
    rapidjson::StringBuffer buffer;
    Writer w(buffer);
    w.StartObject();
    put(w, "session_id", r->meta.session_id.empty() ? r->id : r->meta.session_id);
    put(w, "recording_id", r->id);
    put(w, "signed_url", ctx_.links->link(main->path, sign.host, sign.expires_at).url);
    put_time(w, "expires_at", sign.expires_at);
    w.Key("files");
    w.StartArray();
    for (const auto& f : r->files) {
      w.StartObject();
      put(w, "name", file_name(f.path));
      put(w, "role", core::to_string(f.role));
      put(w, "signed_url", ctx_.links->link(f.path, sign.host, sign.expires_at).url);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    return json_response(200, buffer);
  }

  Response events(const Request& request) const {
    auto r = resolve(request.params.at("id"));
    if (!r) return error_response(r.error());
    auto history = ctx_.service.history(r->id);
    if (!history) return error_response(history.error());
    rapidjson::StringBuffer buffer;
    Writer w(buffer);
    w.StartObject();
    put(w, "recording_id", r->id);
    w.Key("events");
    w.StartArray();
    for (const auto& e : *history) {
      w.StartObject();
      put(w, "at", core::format_utc(e.at));
      put(w, "from", core::to_string(e.transition.from));
      put(w, "to", core::to_string(e.transition.to));
      put(w, "event", e.transition.event);
      put(w, "reason", core::to_string(e.transition.reason));
      put(w, "detail", e.transition.detail);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    return json_response(200, buffer);
  }

  Response storage() const {
    auto s = ctx_.service.storage_status();
    if (!s) return error_response(s.error());
    rapidjson::StringBuffer buffer;
    Writer w(buffer);
    put_storage(w, *s, ctx_.service.storage_policy());
    return json_response(200, buffer);
  }

  Response devices() const {
    rapidjson::StringBuffer buffer;
    Writer w(buffer);
    w.StartObject();
    w.Key("devices");
    put_devices(w, ctx_.devices, ctx_.service);
    w.EndObject();
    return json_response(200, buffer);
  }

  // Seed 000's uploaded video: {"video_url", "file_size"?}; the same again answers 200 unchanged.
  Response attach_video(const Request& request) const {
    auto parsed = object_body(request);
    if (auto* refused = std::get_if<Response>(&parsed)) return std::move(*refused);
    const auto& body = std::get<rapidjson::Document>(parsed);
    for (const auto& m : body.GetObject()) {
      const std::string_view key(m.name.GetString(), m.name.GetStringLength());
      if (key != "video_url" && key != "file_size")
        return bad_request(fmt::format("unknown field '{}'; expected video_url, file_size", key.substr(0, 64)));
    }
    auto url = string_field(body, "video_url");
    if (auto* refused = std::get_if<Response>(&url)) return std::move(*refused);
    const auto& video_url = std::get<std::optional<std::string>>(url);
    if (!video_url || !(video_url->starts_with("http://") || video_url->starts_with("https://")) ||
        video_url->size() > 2048 || video_url->find_first_of(" \t\r\n") != std::string::npos)
      return bad_request("video_url: required, an http:// or https:// URL of at most 2048 characters");
    core::UploadedVideo video{*video_url, std::nullopt};
    if (const auto* size = json::member(body, "file_size"); size && !size->IsNull()) {
      if (!size->IsUint64()) return bad_request("file_size: expected a whole number of bytes, 0 or more");
      video.file_size = size->GetUint64();
    }
    auto r = resolve(request.params.at("id"));
    if (!r) return error_response(r.error());
    auto attached = ctx_.service.attach_video(r->id, video);
    if (!attached) return error_response(attached.error());
    return recording_response(200, ctx_.service, *attached, signing(request));
  }

  // Seed 004's direction: an external recorder's recording.complete / recording.failed,
  // signed with Standard Webhooks; idempotent on webhook-id.
  Response inbound_hook(const Request& request) const {
    if (!ctx_.verify_hook || !ctx_.inbound)
      return error_response(core::Error{Errc::forbidden, "inbound hooks are off: set hooks.inbound_secret", {}});
    if (auto ok = ctx_.verify_hook(request); !ok) return error_response(ok.error());
    auto parsed = object_body(request);
    if (auto* refused = std::get_if<Response>(&parsed)) return std::move(*refused);
    const auto& body = std::get<rapidjson::Document>(parsed);
    core::InboundHook hook;
    hook.webhook_id = request.header("webhook-id").value_or("");
    const auto* type = json::member(body, "type");
    if (!type || !type->IsString()) return bad_request("type: required (recording.complete or recording.failed)");
    hook.type = type->GetString();
    const auto* data = json::member(body, "data");
    if (!data || !data->IsObject()) return bad_request("data: required, an object naming the recording");
    const auto text = [&](const char* name) -> std::string {
      const auto* v = json::member(*data, name);
      return v && v->IsString() ? std::string(v->GetString(), v->GetStringLength()) : std::string();
    };
    // The recording: recorderd's id, else the caller's session_id (seed 004 says room_id).
    for (const char* key : {"recording_id", "session_id", "room_id"}) {
      if (hook.recording.empty()) hook.recording = text(key);
    }
    hook.video.url = text("video_url");
    if (!hook.video.url.empty() && !(hook.video.url.starts_with("http://") || hook.video.url.starts_with("https://")))
      return bad_request("data.video_url: expected an http:// or https:// URL");
    for (const char* key : {"file_size", "size"}) {
      const auto* size = json::member(*data, key);
      if (!size || size->IsNull()) continue;
      if (!size->IsUint64()) return bad_request(fmt::format("data.{}: expected a whole number of bytes", key));
      hook.video.file_size = size->GetUint64();
    }
    hook.error = text("error");
    auto taken = ctx_.inbound->take(hook);
    if (!taken) return error_response(taken.error());
    rapidjson::StringBuffer buffer;
    Writer w(buffer);
    w.StartObject();
    put(w, "repeat", taken->repeat);
    w.Key("recording");
    if (taken->recording) put_recording(w, *taken->recording, ctx_.service.elapsed_seconds(*taken->recording), signing(request));
    else w.Null();
    w.EndObject();
    return json_response(200, buffer);
  }

  // Connected agents (/ws/agent), each with the live recording it holds.
  Response agents() const {
    std::vector<core::AgentInfo> all = ctx_.agents ? ctx_.agents->agents() : std::vector<core::AgentInfo>{};
    rapidjson::StringBuffer buffer;
    Writer w(buffer);
    w.StartObject();
    w.Key("agents");
    put_agents(w, all, ctx_.service);
    put(w, "count", static_cast<std::uint64_t>(all.size()));
    w.EndObject();
    return json_response(200, buffer);
  }

  // Webhook endpoints and how their deliveries go (docs/protocol.md section 7).
  Response webhooks() const {
    const std::vector<core::WebhookHealth> all = ctx_.webhooks ? ctx_.webhooks() : std::vector<core::WebhookHealth>{};
    rapidjson::StringBuffer buffer;
    Writer w(buffer);
    w.StartObject();
    w.Key("webhooks");
    w.StartArray();
    for (const auto& h : all) put_webhook(w, h);
    w.EndArray();
    w.EndObject();
    return json_response(200, buffer);
  }

  // GET /api/cluster (docs/protocol.md section 5).
  Response cluster() const {
    core::ClusterView view;
    if (ctx_.cluster) {
      auto read = ctx_.cluster();
      if (!read) return error_response(read.error());
      view = std::move(*read);
    } else {
      // One instance (SQLite): itself, leading, holding every live recording.
      core::InstanceStatus self;
      self.id = ctx_.instance;
      self.alive = true;
      self.leases = ctx_.service.live().size();
      view.instances.push_back(std::move(self));
      view.leader = ctx_.instance;
    }
    rapidjson::StringBuffer buffer;
    Writer w(buffer);
    w.StartObject();
    put(w, "instance", ctx_.instance);
    put(w, "clustered", static_cast<bool>(ctx_.cluster));
    put(w, "lease_seconds", std::int64_t{ctx_.lease.count()});
    put_text_or_null(w, "leader", view.leader);
    put(w, "leader_epoch", view.leader_epoch);
    put(w, "leader_lease_left_seconds", view.leader_lease_left_seconds);
    put(w, "unowned", view.unowned);
    w.Key("instances");
    w.StartArray();
    for (const core::InstanceStatus& i : view.instances) {
      w.StartObject();
      put(w, "id", i.id);
      put(w, "address", i.address);
      w.Key("devices");
      w.StartArray();
      for (const auto& d : i.devices) w.String(d.c_str());
      w.EndArray();
      if (ctx_.cluster) {
        put_time(w, "started_at", i.started_at);
        put_time(w, "heartbeat_at", i.heartbeat_at);
        put(w, "heartbeat_age_seconds", i.heartbeat_age_seconds);
      }
      put(w, "alive", i.alive);
      put(w, "stopped", i.stopped);
      put(w, "leases", i.leases);
      put(w, "leader", !view.leader.empty() && view.leader == i.id);
      put(w, "self", i.id == ctx_.instance);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    return json_response(200, buffer);
  }

  // POST /api/webhooks: a new endpoint, kept in the store, delivered to from now on.
  Response add_webhook(const Request& request) const {
    if (!ctx_.add_webhook) return error_response(core::Error{Errc::forbidden, "webhook endpoints cannot be added here", {}});
    auto parsed = object_body(request);
    if (auto* refused = std::get_if<Response>(&parsed)) return std::move(*refused);
    const auto& body = std::get<rapidjson::Document>(parsed);
    std::vector<std::pair<std::string, std::string>> fields;
    for (const auto& m : body.GetObject()) {
      const std::string key(m.name.GetString(), m.name.GetStringLength());
      if (m.value.IsString()) {
        fields.emplace_back(key, std::string(m.value.GetString(), m.value.GetStringLength()));
      } else if (m.value.IsArray()) {
        std::string joined;
        for (const auto& item : m.value.GetArray()) {
          if (!item.IsString()) return bad_request(fmt::format("{}: expected a list of strings", key.substr(0, 64)));
          joined += (joined.empty() ? "" : ",") + std::string(item.GetString(), item.GetStringLength());
        }
        fields.emplace_back(key, std::move(joined));
      } else {
        return bad_request(fmt::format("{}: expected a string or a list of strings", key.substr(0, 64)));
      }
    }
    auto added = ctx_.add_webhook(fields);
    if (!added) return error_response(added.error());
    rapidjson::StringBuffer buffer;
    Writer w(buffer);
    put_webhook(w, *added);
    return json_response(201, buffer);
  }

  Response remove_webhook(const Request& request) const {
    if (!ctx_.remove_webhook)
      return error_response(core::Error{Errc::forbidden, "webhook endpoints cannot be removed here", {}});
    const std::string& name = request.params.at("name");
    if (auto removed = ctx_.remove_webhook(name); !removed) return error_response(removed.error());
    rapidjson::StringBuffer buffer;
    Writer w(buffer);
    w.StartObject();
    put(w, "name", name);
    put(w, "removed", true);
    w.EndObject();
    return json_response(200, buffer);
  }

  Response tokens() const {
    auto all = ctx_.access.list();
    if (!all) return error_response(all.error());
    rapidjson::StringBuffer buffer;
    Writer w(buffer);
    w.StartObject();
    w.Key("tokens");
    w.StartArray();
    for (const auto& t : *all) {
      w.StartObject();
      put_token(w, t);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    return json_response(200, buffer);
  }

  Response create_token(const Request& request) const {
    auto parsed = object_body(request);
    if (auto* refused = std::get_if<Response>(&parsed)) return std::move(*refused);
    const auto& body = std::get<rapidjson::Document>(parsed);
    for (const auto& m : body.GetObject()) {
      const std::string_view key(m.name.GetString(), m.name.GetStringLength());
      if (key != "name" && key != "role")
        return bad_request(fmt::format("unknown field '{}'; expected name and role", key.substr(0, 64)));
    }
    auto name = string_field(body, "name");
    if (auto* refused = std::get_if<Response>(&name)) return std::move(*refused);
    auto role_text = string_field(body, "role");
    if (auto* refused = std::get_if<Response>(&role_text)) return std::move(*refused);
    const auto n = std::get<std::optional<std::string>>(name);
    const auto rt = std::get<std::optional<std::string>>(role_text);
    if (!n) return bad_request("name: required (a string that says who or what uses the token)");
    if (!rt) return bad_request("role: required; expected viewer, operator or admin");
    const auto role = core::parse_role(*rt);
    if (!role) return bad_request(fmt::format("role: '{}' is not a role; expected viewer, operator or admin", rt->substr(0, 64)));
    auto issued = ctx_.access.create(*n, *role);
    if (!issued) return error_response(issued.error());
    rapidjson::StringBuffer buffer;
    Writer w(buffer);
    w.StartObject();
    put_token(w, issued->token);
    put(w, "token", issued->secret);
    w.EndObject();
    return json_response(201, buffer);
  }

  Response revoke_token(const Request& request) const {
    const auto& id = request.params.at("id");
    if (auto revoked = ctx_.access.revoke(id); !revoked) return error_response(revoked.error());
    rapidjson::StringBuffer buffer;
    Writer w(buffer);
    w.StartObject();
    put(w, "id", id);
    put(w, "revoked", true);
    w.EndObject();
    return json_response(200, buffer);
  }

 private:
  RestContext ctx_;
};

}  // namespace

std::string event_json(const core::OutboxEntry& entry, const http::MediaLinks* links, core::WallTime url_expires) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  put(w, "type", core::notice_type(entry.body));
  put(w, "timestamp", core::format_utc(core::notice_time(entry.body)));
  w.Key("data");
  if (const auto* n = std::get_if<core::RecordingNotice>(&entry.body)) {
    const core::Recording& r = n->recording;
    const core::WallTime end = r.stopped_at.value_or(n->at);
    const double elapsed =
        r.started_at ? std::max(0.0, std::chrono::duration<double>(end - *r.started_at).count()) : 0.0;
    put_recording(w, r, elapsed, Signing{links, "", url_expires});
  } else if (const auto* s = std::get_if<core::StorageNotice>(&entry.body)) {
    w.StartObject();
    put(w, "level", core::to_string(s->level));
    put(w, "used_percent", s->used_percent);
    w.EndObject();
  } else if (const auto* g = std::get_if<core::AgentNotice>(&entry.body)) {
    w.StartObject();
    put(w, "agent_id", g->agent_id);
    put(w, "connected", g->connected);
    put(w, "detail", g->detail);
    w.EndObject();
  } else {
    const auto& a = std::get<core::Alert>(entry.body);
    w.StartObject();
    put(w, "alert_id", a.id);
    put(w, "severity", core::to_string(a.severity));
    put(w, "message", a.message);
    if (a.recording_id) put(w, "recording_id", *a.recording_id);
    else put_null(w, "recording_id");
    put_text_or_null(w, "cause", a.cause);
    w.EndObject();
  }
  w.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

void add_rest_routes(http::Router& router, const RestContext& ctx) {
  auto api = std::make_shared<Api>(ctx);
  using core::Role;
  const auto bind = [&api](auto method) {
    return [a = api.get(), method](const Request& r, const core::ApiToken& who) { return method(*a, r, who); };
  };
  router.add("GET", "/api/recordings",
             api->guarded(Role::viewer, "listing recordings",
                          bind([](Api& a, const Request& r, const core::ApiToken&) { return a.list(r); })));
  router.add("POST", "/api/recordings",
             api->guarded(Role::operator_, "starting a recording",
                          bind([](Api& a, const Request& r, const core::ApiToken& who) { return a.create(r, who); })));
  router.add("GET", "/api/recordings/{id}",
             api->guarded(Role::viewer, "reading a recording",
                          bind([](Api& a, const Request& r, const core::ApiToken&) { return a.show(r); })));
  router.add("DELETE", "/api/recordings/{id}",
             api->guarded(Role::admin, "deleting a recording",
                          bind([](Api& a, const Request& r, const core::ApiToken&) { return a.remove(r); })));
  router.add("POST", "/api/recordings/{id}/stop",
             api->guarded(Role::operator_, "stopping a recording",
                          bind([](Api& a, const Request& r, const core::ApiToken&) { return a.stop(r); })));
  router.add("POST", "/api/recordings/{id}/video",
             api->guarded(Role::operator_, "attaching an uploaded video",
                          bind([](Api& a, const Request& r, const core::ApiToken&) { return a.attach_video(r); })));
  router.add("GET", "/api/recordings/{id}/events",
             api->guarded(Role::viewer, "reading a recording's events",
                          bind([](Api& a, const Request& r, const core::ApiToken&) { return a.events(r); })));
  router.add("GET", "/api/recordings/{id}/url",
             api->guarded(Role::viewer, "signing a recording's URL",
                          bind([](Api& a, const Request& r, const core::ApiToken&) { return a.url(r); })));
  router.add("GET", "/api/storage",
             api->guarded(Role::viewer, "reading storage",
                          bind([](Api& a, const Request&, const core::ApiToken&) { return a.storage(); })));
  router.add("GET", "/api/devices",
             api->guarded(Role::viewer, "listing devices",
                          bind([](Api& a, const Request&, const core::ApiToken&) { return a.devices(); })));
  router.add("GET", "/api/agents",
             api->guarded(Role::viewer, "listing agents",
                          bind([](Api& a, const Request&, const core::ApiToken&) { return a.agents(); })));
  router.add("POST", "/api/hooks/recordings",
             [api](const Request& request) { return api->inbound_hook(request); });
  router.add("GET", "/api/cluster",
             api->guarded(Role::viewer, "showing the cluster",
                          bind([](Api& a, const Request&, const core::ApiToken&) { return a.cluster(); })));
  router.add("GET", "/api/webhooks",
             api->guarded(Role::admin, "listing webhooks",
                          bind([](Api& a, const Request&, const core::ApiToken&) { return a.webhooks(); })));
  router.add("POST", "/api/webhooks",
             api->guarded(Role::admin, "adding a webhook endpoint",
                          bind([](Api& a, const Request& r, const core::ApiToken&) { return a.add_webhook(r); })));
  router.add("DELETE", "/api/webhooks/{name}",
             api->guarded(Role::admin, "removing a webhook endpoint",
                          bind([](Api& a, const Request& r, const core::ApiToken&) { return a.remove_webhook(r); })));
  router.add("GET", "/api/tokens",
             api->guarded(Role::admin, "listing tokens",
                          bind([](Api& a, const Request&, const core::ApiToken&) { return a.tokens(); })));
  router.add("POST", "/api/tokens",
             api->guarded(Role::admin, "creating a token",
                          bind([](Api& a, const Request& r, const core::ApiToken&) { return a.create_token(r); })));
  router.add("DELETE", "/api/tokens/{id}",
             api->guarded(Role::admin, "revoking a token",
                          bind([](Api& a, const Request& r, const core::ApiToken&) { return a.revoke_token(r); })));
}

}  // namespace recorder::adapters::rest
