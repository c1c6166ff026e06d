// How REST shows things, shared by the REST API and the dashboard's event stream
// (views.hpp).

#include "views.hpp"

#include <algorithm>

#include "recorder/core/domain/time_text.hpp"

namespace recorder::adapters::rest::views {

using json::put;
using json::put_null;

void put_time(Writer& w, std::string_view key, const std::optional<core::WallTime>& t) {
  if (t) put(w, key, core::format_utc(*t));
  else put_null(w, key);
}

// A text that may be absent: null when empty.
void put_text_or_null(Writer& w, std::string_view key, const std::string& text) {
  if (text.empty()) put_null(w, key);
  else put(w, key, text);
}

void put_optional(Writer& w, std::string_view key, const std::optional<double>& v) {
  if (v) put(w, key, *v);
  else put_null(w, key);
}

namespace {

// Seed 004's lifecycle words for recorderd's states.
std::string_view seed004_status(core::State s) {
  switch (s) {
    case core::State::starting:
    case core::State::recording:
    case core::State::interrupted:
    case core::State::stale:
    case core::State::stopping: return "recording";
    case core::State::finalizing:
    case core::State::processing: return "processing";
    case core::State::ready: return "ready";
    case core::State::failed: return "failed";
    case core::State::deleted: return "deleted";
  }
  return "failed";
}

}  // namespace

std::string file_name(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// A recording as every answer shows it: recorderd's fields, seed 004's beside them
// (session_id, recording_id, status / recording_status, ended_at, file_size_bytes,
// signed_url / expires_at, deleted) and seed 000's outcome.
void put_recording(Writer& w, const core::Recording& r, double elapsed_seconds, const Signing& signing) {
  std::uint64_t file_bytes = 0;
  for (const auto& f : r.files) file_bytes += f.bytes;
  w.StartObject();
  put(w, "id", r.id);
  put(w, "recording_id", r.id);
  put(w, "session_id", r.meta.session_id.empty() ? r.id : r.meta.session_id);
  w.Key("notify");
  w.StartArray();
  for (const auto& a : r.meta.notify) w.String(a.c_str(), static_cast<rapidjson::SizeType>(a.size()));
  w.EndArray();
  put(w, "kind", core::to_string(r.kind));
  put(w, "state", core::to_string(r.state));
  put(w, "status", seed004_status(r.state));
  put(w, "recording_status", seed004_status(r.state));
  put(w, "outcome", core::to_string(r.outcome));
  put(w, "stop_reason", core::to_string(r.stop_reason));
  put(w, "deleted", r.state == core::State::deleted);
  put(w, "format", r.format);
  put(w, "subject", r.meta.subject);
  put(w, "organizer", r.meta.organizer);
  put(w, "owner", r.meta.owner);
  put(w, "device", r.meta.device);
  put(w, "agent_id", r.meta.agent_id);
  put(w, "start_time", r.meta.start_time);
  put(w, "mime_type", r.meta.mime_type);
  if (r.expected_duration) put(w, "duration_expected", static_cast<std::int64_t>(r.expected_duration->count()));
  else put_null(w, "duration_expected");
  put(w, "remote_triggered", r.remote_triggered);
  put_time(w, "created_at", r.created_at);
  put_time(w, "started_at", r.started_at);
  put_time(w, "last_activity_at", r.last_activity_at);
  put_time(w, "stopped_at", r.stopped_at);
  put_time(w, "ended_at", r.stopped_at);
  put_time(w, "finalized_at", r.finalized_at);
  put(w, "elapsed_seconds", elapsed_seconds);
  put_optional(w, "duration_seconds", r.duration_seconds);
  put(w, "chunks", static_cast<std::uint64_t>(r.ledger.chunk_count()));
  put(w, "bytes", r.ledger.total_bytes());
  put(w, "missing_chunks", r.missing_chunks);
  put(w, "file_size_bytes", file_bytes);
  put(w, "current_file", r.current_file);
  // Seed 000's fields of an agent recording: its last status and the uploaded video.
  put_optional(w, "duration_actual", r.duration_seconds);
  put_text_or_null(w, "agent_status", r.agent.status);
  put_optional(w, "elapsed", r.agent.elapsed);
  put_optional(w, "remaining", r.agent.remaining);
  put_text_or_null(w, "agent_timestamp", r.agent.timestamp);
  put_text_or_null(w, "video_url", r.video.url);
  if (r.video.file_size) put(w, "file_size", *r.video.file_size);
  else put_null(w, "file_size");
  const bool signed_urls = signing.links && r.state != core::State::deleted;
  const auto* main = signed_urls ? core::main_file(r) : nullptr;
  if (main) {
    put(w, "signed_url", signing.links->link(main->path, signing.host, signing.expires_at).url);
    put_time(w, "expires_at", signing.expires_at);
  } else {
    put_null(w, "signed_url");
    put_null(w, "expires_at");
  }
  w.Key("files");
  w.StartArray();
  for (const auto& f : r.files) {
    w.StartObject();
    put(w, "name", file_name(f.path));
    put(w, "path", f.path);
    put(w, "role", core::to_string(f.role));
    put(w, "bytes", f.bytes);
    put_optional(w, "duration_seconds", f.duration_seconds);
    if (signed_urls) put(w, "signed_url", signing.links->link(f.path, signing.host, signing.expires_at).url);
    w.EndObject();
  }
  w.EndArray();
  put(w, "error", r.error);
  put(w, "revision", r.revision);
  w.EndObject();
}

// A webhook endpoint (or alert channel) and how its deliveries go; never its secrets.
void put_webhook(Writer& w, const core::WebhookHealth& h) {
  w.StartObject();
  put(w, "name", h.endpoint.name);
  put(w, "source", h.source);
  put(w, "url", h.endpoint.url);
  w.Key("events");
  w.StartArray();
  for (const auto& e : h.endpoint.events) w.String(e.c_str(), static_cast<rapidjson::SizeType>(e.size()));
  if (h.endpoint.events.empty()) w.String("*");
  w.EndArray();
  put(w, "enabled", h.enabled);
  put_text_or_null(w, "disabled_reason", h.disabled_reason);
  put_time(w, "last_success_at", h.last_success);
  put_time(w, "last_failure_at", h.last_failure);
  if (h.last_failure) put(w, "last_status", static_cast<std::int64_t>(h.last_status));
  else put_null(w, "last_status");
  put_text_or_null(w, "last_error", h.last_error);
  if (h.pending) put(w, "pending", *h.pending);
  else put_null(w, "pending");
  put(w, "delivered", h.delivered);
  put(w, "failed_attempts", h.failed_attempts);
  put(w, "gave_up", h.gave_up);
  put(w, "suppressed", h.suppressed);
  put(w, "retrying_attempts", static_cast<std::uint64_t>(h.retrying_attempts));
  put_time(w, "next_attempt_at", h.next_attempt_at);
  w.EndObject();
}

void put_storage(Writer& w, const core::StorageStatus& status, const core::StoragePolicy& policy) {
  w.StartObject();
  put(w, "total_bytes", status.info.total_bytes);
  put(w, "free_bytes", status.info.available_bytes);
  put(w, "used_bytes", status.info.total_bytes - std::min(status.info.total_bytes, status.info.available_bytes));
  put(w, "used_percent", status.used_percent);
  put(w, "level", core::to_string(status.level));
  put(w, "warn_percent", policy.warn_percent);
  put(w, "block_percent", policy.block_percent);
  w.EndObject();
}

void put_devices(Writer& w, const std::vector<core::Device>& devices, const core::RecordingService& service) {
  w.StartArray();
  for (const auto& d : devices) {
    w.StartObject();
    put(w, "name", d.name);
    put(w, "source", d.source_text);
    put(w, "device", core::device_path(d));
    const auto live = service.live_on(d.name);
    put(w, "recording", live.has_value());
    if (live) put(w, "recording_id", live->id);
    else put_null(w, "recording_id");
    w.EndObject();
  }
  w.EndArray();
}

void put_agents(Writer& w, const std::vector<core::AgentInfo>& all, const core::RecordingService& service) {
  w.StartArray();
  for (const auto& a : all) {
    w.StartObject();
    put(w, "agent_id", a.agent_id);
    put(w, "connected", true);
    put_time(w, "connected_at", a.connected_at);
    put_time(w, "last_message_at", a.last_message_at);
    put_text_or_null(w, "last_message", a.last_message);
    put(w, "messages", a.messages);
    put(w, "remote", a.remote);
    if (auto live = service.live_on(a.agent_id)) {
      put(w, "recording_id", live->id);
      put(w, "recording_state", core::to_string(live->state));
      put(w, "subject", live->meta.subject);
      put_text_or_null(w, "agent_status", live->agent.status);
      put_optional(w, "elapsed", live->agent.elapsed);
      put_optional(w, "remaining", live->agent.remaining);
    } else {
      put_null(w, "recording_id");
    }
    w.EndObject();
  }
  w.EndArray();
}

}  // namespace recorder::adapters::rest::views
