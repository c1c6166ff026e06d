#pragma once

#include <string>
#include <string_view>

#include "recorder/core/domain/error.hpp"
#include "recorder/core/domain/types.hpp"

namespace recorder::core {

// Signed, expiring media URLs (seed 004: 24 h by default). Shared by the adapters that hand
// out URLs (the dialects, REST, webhooks) and the one that serves media. Any thread.
class UrlSigner {
 public:
  virtual ~UrlSigner() = default;
  // The query that lets anyone GET (or HEAD) `path` until `expires_at`:
  // "exp=<unix seconds>&kid=<key id>&sig=<base64url>". `path` is the URL path exactly as it
  // will be sent, percent-encoded.
  virtual std::string sign(std::string_view path, WallTime expires_at) const = 0;
  // Whether a request of `method` on `path` with `query`, both exactly as sent (before any
  // percent-decoding), carries a signature made by sign() that has not expired. HEAD is
  // GET. Errc::forbidden says which of expired, forged, unknown key or malformed it is.
  virtual Result<void> verify(std::string_view method, std::string_view path, std::string_view query,
                              WallTime now) const = 0;
};

}  // namespace recorder::core
