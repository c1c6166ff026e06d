#include "recorder/adapters/webhook/standard_webhooks.hpp"

#include <openssl/evp.h>
#include <openssl/crypto.h>
#include <openssl/hmac.h>

#include <array>
#include <charconv>
#include <optional>
#include <vector>

#include <fmt/format.h>

namespace recorder::adapters::webhook {
namespace {

// Standard base64 (with padding); nothing when it is not.
std::optional<std::vector<unsigned char>> unbase64(std::string_view text) {
  if (text.empty() || text.size() % 4 != 0) return std::nullopt;
  std::vector<unsigned char> out(text.size() / 4 * 3);
  const int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  std::size_t size = static_cast<std::size_t>(n);
  // EVP_DecodeBlock counts the padding as zero bytes.
  for (std::size_t i = text.size(); i > 0 && text[i - 1] == '=' && size > 0; --i) --size;
  out.resize(size);
  return out;
}

}  // namespace

std::string base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

core::Result<std::string> sign(std::span<const std::string> secrets, std::string_view id, std::int64_t timestamp,
                               std::string_view body) {
  const std::string content = fmt::format("{}.{}.{}", id, timestamp, body);
  std::string header;
  std::size_t n = 0;
  for (const std::string& secret : secrets) {
    ++n;
    auto key = secret.starts_with("whsec_") ? unbase64(std::string_view(secret).substr(6)) : std::nullopt;
    if (!key || key->empty())
      return core::fail(core::Errc::invalid_argument,
                        fmt::format("webhook secret #{} is not whsec_ followed by base64", n));
    std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
    unsigned int len = 0;
    HMAC(EVP_sha256(), key->data(), static_cast<int>(key->size()),
         reinterpret_cast<const unsigned char*>(content.data()), content.size(), mac.data(), &len);
    header += fmt::format("{}v1,{}", header.empty() ? "" : " ", base64(std::string_view(reinterpret_cast<const char*>(mac.data()), len)));
  }
  if (header.empty()) return core::fail(core::Errc::invalid_argument, "a webhook endpoint needs a secret");
  return header;
}

core::Result<void> verify(std::span<const std::string> secrets, std::string_view id, std::string_view timestamp,
                          std::string_view signatures, std::string_view body, std::int64_t now_seconds,
                          std::chrono::seconds tolerance) {
  const auto refuse = [](std::string message) { return core::fail(core::Errc::unauthenticated, std::move(message)); };
  if (id.empty() || timestamp.empty() || signatures.empty())
    return refuse("webhook-id, webhook-timestamp and webhook-signature headers are required (Standard Webhooks)");
  std::int64_t at = 0;
  const auto [ptr, ec] = std::from_chars(timestamp.data(), timestamp.data() + timestamp.size(), at);
  if (ec != std::errc{} || ptr != timestamp.data() + timestamp.size())
    return refuse("webhook-timestamp: expected unix seconds");
  const std::int64_t skew = at > now_seconds ? at - now_seconds : now_seconds - at;
  if (skew > tolerance.count())
    return refuse(fmt::format("webhook-timestamp is {} s away from recorderd's clock, more than the {} s allowed: "
                              "a replay, or a clock to fix",
                              skew, tolerance.count()));
  for (const std::string& secret : secrets) {
    auto expected = sign(std::span(&secret, 1), id, at, body);
    if (!expected) return std::unexpected(expected.error());
    const std::string_view want = std::string_view(*expected).substr(3);  // after "v1,"
    std::string_view rest = signatures;
    while (!rest.empty()) {
      const auto space = rest.find(' ');
      const std::string_view one = rest.substr(0, space);
      rest = space == std::string_view::npos ? std::string_view{} : rest.substr(space + 1);
      if (!one.starts_with("v1,")) continue;
      const std::string_view got = one.substr(3);
      if (got.size() == want.size() && CRYPTO_memcmp(got.data(), want.data(), want.size()) == 0) return core::ok();
    }
  }
  return refuse("webhook-signature: no v1 signature matches this body with the configured secret");
}

}  // namespace recorder::adapters::webhook
