#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "recorder/core/domain/error.hpp"
#include "recorder/core/ports/url_signer.hpp"

namespace recorder::adapters::crypto {

struct SigningKey {
  std::string kid;     // [A-Za-z0-9_-], 1-32 characters
  std::string secret;  // raw bytes, at least 32
};

// The UrlSigner port with HMAC-SHA256 (OpenSSL) over "GET\n<path>\n<exp>", base64url. The
// first key signs; every key verifies, so that a key can be rotated: put a new one first,
// and remove the old one once the URLs it signed no longer matter. Paths with "..", an
// encoded '/' or '\', or an encoded or raw NUL are never valid.
class HmacUrlSigner final : public core::UrlSigner {
 public:
  explicit HmacUrlSigner(std::vector<SigningKey> keys);  // at least one
  std::string sign(std::string_view path, core::WallTime expires_at) const override;
  core::Result<void> verify(std::string_view method, std::string_view path, std::string_view query,
                            core::WallTime now) const override;

 private:
  std::string mac(const SigningKey& key, std::string_view path, std::string_view exp) const;
  std::vector<SigningKey> keys_;
};

// The media keys file: one key per line, "<kid> <base64url secret>", the first signs; empty
// lines and lines starting with '#' are skipped. When `file` does not exist it is created
// (mode 0600) with one new 256-bit key. An error names the file and the line.
core::Result<std::vector<SigningKey>> load_or_create_signing_keys(const std::filesystem::path& file);

// base64url without padding, decoded; nothing when `text` is not that.
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace recorder::adapters::crypto
