#pragma once

#include "recorder/core/ports/secrets.hpp"

namespace recorder::adapters::crypto {

// The Secrets port on OpenSSL: RAND_bytes, SHA-256 (EVP), CRYPTO_memcmp.
class OpenSslSecrets final : public core::Secrets {
 public:
  std::string random_base64url(std::size_t bytes) override;
  std::string hash(std::string_view secret) const override;
  bool equal(std::string_view a, std::string_view b) const override;
};

// base64url without padding (RFC 4648 §5).
std::string base64url(std::string_view bytes);

}  // namespace recorder::adapters::crypto
