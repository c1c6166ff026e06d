#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "recorder/adapters/http/media.hpp"
#include "recorder/adapters/http/router.hpp"
#include "recorder/core/app/access_service.hpp"
#include "recorder/core/app/inbound_hooks.hpp"
#include "recorder/core/app/recording_service.hpp"
#include "recorder/core/app/webhook_delivery.hpp"
#include "recorder/core/domain/device.hpp"
#include "recorder/core/ports/clock.hpp"

namespace recorder::adapters::rest {

struct RestContext {
  core::RecordingService& service;
  core::AccessService& access;
  const core::Clock& clock;                  // for the expiry of signed URLs
  std::vector<core::Device> devices;         // what POST /api/recordings may capture
  std::vector<std::string> allowed_urls;     // and, for admins, URLs matching these (capture.allowed_urls)
  std::chrono::seconds stop_wait{40};        // how long a stop waits for the recording to let go
  const http::MediaLinks* links = nullptr;   // signed media URLs (none: answers carry no URLs)
  std::chrono::hours max_url_hours{168};     // media.max_url_hours: the longest expiry_hours
  const core::AgentChannel* agents = nullptr;  // who is connected (GET /api/agents); none: nobody
  std::function<std::vector<core::WebhookHealth>()> webhooks;  // GET /api/webhooks; none: no endpoints
  // POST /api/hooks/recordings: the signature check (Standard Webhooks) and what takes the
  // hook; without either the route answers 403 (hooks.inbound_secret is not set).
  std::function<core::Result<void>(const http::Request&)> verify_hook;
  core::InboundHooks* inbound = nullptr;
  // POST /api/webhooks {"name", "url", "secret" | "secrets", "events"} (fields as the config
  // file's [[webhooks]]) and DELETE /api/webhooks/{name}; none: 403.
  std::function<core::Result<core::WebhookHealth>(const std::vector<std::pair<std::string, std::string>>&)> add_webhook;
  std::function<core::Result<void>(const std::string&)> remove_webhook;
  // GET /api/cluster: the instances on this database, their heartbeats and leases, and the
  // leader. `instance` is this one's id; none: one instance (SQLite), shown alone.
  std::function<core::Result<core::ClusterView>()> cluster{};
  std::string instance{};
  std::chrono::seconds lease{15};
};

// Adds every /api/* route (docs/protocol.md section 5) to `router`. Each needs a bearer
// token (Authorization: Bearer, or ?access_token=) whose role allows it (section 6):
//   viewer:   GET /api/recordings, /api/recordings/{id}, /api/recordings/{id}/events,
//             /api/recordings/{id}/url, /api/storage, /api/devices, /api/agents, /api/cluster
//   operator: POST /api/recordings, POST /api/recordings/{id}/stop, POST /api/recordings/{id}/video
//   admin:    DELETE /api/recordings/{id}, GET/POST /api/tokens, DELETE /api/tokens/{id},
//             GET/POST /api/webhooks, DELETE /api/webhooks/{name}
// Refusals are 401 (no or bad token) and 403 (role too low), checked before anything
// about a recording is looked at. POST /api/hooks/recordings takes no token: its Standard
// Webhooks signature is its credential (401 when it does not verify). `ctx`'s references must outlive the router.
void add_rest_routes(http::Router& router, const RestContext& ctx);

// A notice as a webhook's body (Standard Webhooks): {"type", "timestamp", "data"}. A
// recording notice's data is the recording as REST shows it, with URLs signed until
// `url_expires` when `links` is given; the others carry their own fields
// (docs/protocol.md section 7).
std::string event_json(const core::OutboxEntry& entry, const http::MediaLinks* links, core::WallTime url_expires);

}  // namespace recorder::adapters::rest
