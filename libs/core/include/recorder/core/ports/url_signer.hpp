#pragma once

#include <string>

#include "recorder/core/domain/types.hpp"

namespace recorder::core {

struct SignedUrl {
  std::string url;
  WallTime expires_at;
};

// Signed, expiring media URLs (seed 004: 24 h by default).
class UrlSigner {
 public:
  virtual ~UrlSigner() = default;
  virtual SignedUrl sign(const std::string& path, WallTime expires_at) const = 0;
  // True when the signature matches and `now` is before the expiry.
  virtual bool verify(const std::string& path, WallTime expires_at, const std::string& signature,
                      WallTime now) const = 0;
};

}  // namespace recorder::core
