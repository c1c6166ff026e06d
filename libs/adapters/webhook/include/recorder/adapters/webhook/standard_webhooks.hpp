#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "recorder/core/domain/error.hpp"

namespace recorder::adapters::webhook {

// Standard Webhooks v1 (https://www.standardwebhooks.com): the value of the
// webhook-signature header, "v1,<base64 HMAC-SHA256 of id.timestamp.body>" once per secret
// (space-separated while a secret is rotated). A secret is "whsec_" + base64 of the key;
// a malformed one is an error naming it by position.
core::Result<std::string> sign(std::span<const std::string> secrets, std::string_view id, std::int64_t timestamp,
                               std::string_view body);

// Standard base64 with padding (OpenSSL), as the signatures and e-mail headers use it.
std::string base64(std::string_view bytes);

// Checks an inbound request's Standard Webhooks headers against `body`: some v1 signature
// in `signatures` matches one of `secrets`, and `timestamp` is within `tolerance` of `now`.
// Errc::unauthenticated naming what is wrong (missing header, stale timestamp, no match).
core::Result<void> verify(std::span<const std::string> secrets, std::string_view id, std::string_view timestamp,
                          std::string_view signatures, std::string_view body, std::int64_t now_seconds,
                          std::chrono::seconds tolerance = std::chrono::minutes(5));

}  // namespace recorder::adapters::webhook
