#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace recorder::core {

// Randomness and hashing for credentials (OpenSSL in production). Any thread.
class Secrets {
 public:
  virtual ~Secrets() = default;
  // `bytes` random bytes from a cryptographic generator, base64url without padding.
  virtual std::string random_base64url(std::size_t bytes) = 0;
  // SHA-256 of `secret`, in hex.
  virtual std::string hash(std::string_view secret) const = 0;
  // Whether a and b are equal, in time that depends on their length only.
  virtual bool equal(std::string_view a, std::string_view b) const = 0;
};

}  // namespace recorder::core
