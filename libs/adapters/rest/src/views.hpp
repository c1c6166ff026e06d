#pragma once

// How REST shows a recording, the storage, devices, agents and webhook endpoints: the
// writers both the REST API and the dashboard's event stream (/ws/events) use, so that a
// recording looks the same in both (docs/protocol.md sections 5 and 9).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "recorder/adapters/http/media.hpp"
#include "recorder/adapters/json/json.hpp"
#include "recorder/core/app/recording_service.hpp"
#include "recorder/core/app/webhook_delivery.hpp"
#include "recorder/core/domain/device.hpp"
#include "recorder/core/ports/agent_channel.hpp"

namespace recorder::adapters::rest::views {

using Writer = json::Writer;

void put_time(Writer& w, std::string_view key, const std::optional<core::WallTime>& t);
// A text that may be absent: null when empty.
void put_text_or_null(Writer& w, std::string_view key, const std::string& text);
void put_optional(Writer& w, std::string_view key, const std::optional<double>& v);
// The last part of a stored path: the file's name.
std::string file_name(const std::string& path);

// What an answer needs to sign the URLs it carries: the links (none: no URLs), the Host the
// caller used, and until when.
struct Signing {
  const http::MediaLinks* links = nullptr;
  std::string host;
  core::WallTime expires_at{};
};

// A recording as every answer shows it: recorderd's fields, seed 004's beside them
// (session_id, recording_id, status / recording_status, ended_at, file_size_bytes,
// signed_url / expires_at, deleted) and seed 000's outcome.
void put_recording(Writer& w, const core::Recording& r, double elapsed_seconds, const Signing& signing);
// A webhook endpoint (or alert channel) and how its deliveries go; never its secrets.
void put_webhook(Writer& w, const core::WebhookHealth& h);
// The disk: {"total_bytes", "free_bytes", "used_bytes", "used_percent", "level", "warn_percent", "block_percent"}.
void put_storage(Writer& w, const core::StorageStatus& s, const core::StoragePolicy& policy);
// The configured capture devices, each with the live recording it holds: an array.
void put_devices(Writer& w, const std::vector<core::Device>& devices, const core::RecordingService& service);
// Connected agents, each with the live recording it holds: an array.
void put_agents(Writer& w, const std::vector<core::AgentInfo>& agents, const core::RecordingService& service);

}  // namespace recorder::adapters::rest::views
