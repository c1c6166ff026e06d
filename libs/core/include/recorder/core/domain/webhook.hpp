#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "recorder/core/domain/types.hpp"

namespace recorder::core {

// An outgoing webhook endpoint (Standard Webhooks v1; docs/protocol.md section 7).
struct WebhookEndpoint {
  std::string name;                  // unique; the outbox remembers per name what was delivered
  std::string url;                   // http:// or https://
  std::vector<std::string> secrets;  // whsec_<base64>; more than one while a secret is rotated
  std::vector<std::string> events;   // notice types ("recording.ready") or prefixes ("recording.*"); empty: all

  bool operator==(const WebhookEndpoint&) const = default;
};

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

  bool operator==(const DeliveryPolicy&) const = default;
};

}  // namespace recorder::core
