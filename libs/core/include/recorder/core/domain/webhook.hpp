#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "recorder/core/domain/types.hpp"

namespace recorder::core {

// How a channel is spoken to: a Standard Webhooks endpoint, a Slack incoming webhook,
// e-mail over SMTP, or a local program (seed 002's processing hook, hooks.on_ready).
enum class ChannelKind { webhook, slack, email, command };

// Where notices go: an outgoing webhook endpoint (Standard Webhooks v1; docs/protocol.md
// section 7), or the Slack or e-mail alert channel.
struct WebhookEndpoint {
  std::string name;                  // unique; the outbox remembers per name what was delivered
  std::string url;                   // http(s):// (webhook, Slack), smtp(s):// (e-mail), a program's path (command)
  std::vector<std::string> secrets;  // whsec_<base64>; more than one while a secret is rotated
  std::vector<std::string> events;   // notice types ("recording.ready") or prefixes ("recording.*"); empty: all
  ChannelKind kind = ChannelKind::webhook;

  bool operator==(const WebhookEndpoint&) const = default;
};

// The outbox subscriber a channel delivers as: "webhook:<name>", "slack", "email",
// "hook:<name>".
std::string subscriber_of(const WebhookEndpoint& endpoint);

// Whether `endpoint` subscribed to notices of `type`.
bool wants(const WebhookEndpoint& endpoint, std::string_view type);

// How deliveries are retried (delivery.* keys). The n-th failed attempt waits
// retry_delays[n-1] (spread by +-jitter_percent); after the last one the delivery gives up.
struct DeliveryPolicy {
  std::vector<Duration> retry_delays{std::chrono::seconds(5),     std::chrono::minutes(5), std::chrono::minutes(30),
                                     std::chrono::hours(2),       std::chrono::hours(5),   std::chrono::hours(10),
                                     std::chrono::hours(10)};
  Duration timeout = std::chrono::seconds(15);  // per request
  unsigned jitter_percent = 20;
  // An alert equal to one sent less than this long ago (same recording, cause and message)
  // is not sent again; zero sends every one. Alert channels set it (alerts.repeat_minutes).
  Duration suppress_repeats{0};

  bool operator==(const DeliveryPolicy&) const = default;
};

}  // namespace recorder::core
