#include "recorder/adapters/crypto/hmac_url_signer.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include "recorder/adapters/crypto/openssl_secrets.hpp"

namespace recorder::adapters::crypto {
namespace {

using core::Errc;

bool kid_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

bool valid_kid(std::string_view kid) {
  return !kid.empty() && kid.size() <= 32 && std::ranges::all_of(kid, kid_char);
}

// Whether `path` could name something other than what it seems once decoded.
bool unsafe_path(std::string_view path) {
  if (path.empty() || path.front() != '/') return true;
  if (path.find("..") != std::string_view::npos || path.find('\\') != std::string_view::npos ||
      path.find('\0') != std::string_view::npos || path.find("//") != std::string_view::npos)
    return true;
  for (std::size_t i = 0; i + 2 < path.size(); ++i) {
    if (path[i] != '%') continue;
    const char a = path[i + 1];
    const char b = static_cast<char>(path[i + 2] | 0x20);  // lower case
    if ((a == '2' && b == 'f') || (a == '5' && b == 'c') || (a == '0' && b == '0') || (a == '2' && b == 'e'))
      return true;
  }
  return false;
}

std::unexpected<core::Error> refused(std::string message) { return core::fail(Errc::forbidden, std::move(message)); }

}  // namespace

std::optional<std::string> base64url_decode(std::string_view text) {
  const auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
  };
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  unsigned acc = 0;
  int bits = 0;
  for (char c : text) {
    const int v = value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return std::nullopt;  // stray bits: not canonical
  return out;
}

HmacUrlSigner::HmacUrlSigner(std::vector<SigningKey> keys) : keys_(std::move(keys)) {}

std::string HmacUrlSigner::mac(const SigningKey& key, std::string_view path, std::string_view exp) const {
  const std::string message = fmt::format("GET\n{}\n{}", path, exp);
  std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.secret.data(), static_cast<int>(key.secret.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), out.data(), &len);
  return base64url(std::string_view(reinterpret_cast<const char*>(out.data()), len));
}

std::string HmacUrlSigner::sign(std::string_view path, core::WallTime expires_at) const {
  const auto exp = std::to_string(std::chrono::duration_cast<std::chrono::seconds>(expires_at.time_since_epoch()).count());
  const SigningKey& key = keys_.front();
  return fmt::format("exp={}&kid={}&sig={}", exp, key.kid, mac(key, path, exp));
}

core::Result<void> HmacUrlSigner::verify(std::string_view method, std::string_view path, std::string_view query,
                                         core::WallTime now) const {
  if (method != "GET" && method != "HEAD") return refused("a signed media URL opens GET and HEAD only");
  if (unsafe_path(path)) return refused("this path is not one recorderd signs ('..', an encoded '/', '\\' or NUL)");
  std::optional<std::string_view> exp, kid, sig;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    const auto eq = pair.find('=');
    const std::string_view name = pair.substr(0, eq);
    const std::string_view value = eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    std::optional<std::string_view>* slot = name == "exp" ? &exp : name == "kid" ? &kid : name == "sig" ? &sig : nullptr;
    if (!slot) continue;  // other parameters are not signed and change nothing
    if (slot->has_value()) return refused(fmt::format("the URL has '{}' twice", name));
    *slot = value;
  }
  if (!exp || !sig) return refused("the URL is not signed: exp and sig are required");
  std::int64_t expires = 0;
  const auto [end, ec] = std::from_chars(exp->data(), exp->data() + exp->size(), expires);
  if (ec != std::errc{} || end != exp->data() + exp->size() || exp->size() > 12)
    return refused("the URL's exp is not a time in Unix seconds");
  const SigningKey* key = nullptr;
  if (kid) {
    for (const auto& k : keys_) {
      if (k.kid == *kid) key = &k;
    }
    if (!key) return refused(fmt::format("the URL was signed with a key recorderd does not have (kid '{}')", kid->substr(0, 32)));
  }
  bool matches = false;
  for (const auto& k : keys_) {
    if (key && &k != key) continue;
    const std::string expected = mac(k, path, *exp);
    matches = matches || (expected.size() == sig->size() && CRYPTO_memcmp(expected.data(), sig->data(), sig->size()) == 0);
  }
  if (!matches) return refused("the URL's signature does not match its path and expiry");
  const auto until = core::WallTime{std::chrono::seconds{expires}};
  if (now >= until)
    return refused(fmt::format("the URL expired at {:%Y-%m-%dT%H:%M:%S}Z; ask for a new one",
                               std::chrono::floor<std::chrono::seconds>(until)));
  return core::ok();
}

core::Result<std::vector<SigningKey>> load_or_create_signing_keys(const std::filesystem::path& file) {
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd >= 0) {
    std::array<unsigned char, 38> random{};  // 6 for the kid, 32 for the secret
    if (RAND_bytes(random.data(), static_cast<int>(random.size())) != 1) {
      ::close(fd);
      ::unlink(file.c_str());
      return core::fail(Errc::internal, "OpenSSL RAND_bytes failed: no secure random bytes for the media key");
    }
    const auto bytes = std::string_view(reinterpret_cast<const char*>(random.data()), random.size());
    const std::string text = fmt::format(
        "# recorderd's media URL signing keys: \"<kid> <base64url secret>\" per line; the first signs, all verify.\n"
        "# To rotate, add a new key on top; remove the old one when the URLs it signed may stop working.\n"
        "k{} {}\n",
        base64url(bytes.substr(0, 6)), base64url(bytes.substr(6)));
    const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
    ::close(fd);
    if (!written) {
      ::unlink(file.c_str());
      return core::fail(Errc::io_error, fmt::format("cannot write the media keys file {}", file.string()));
    }
  } else if (errno != EEXIST) {
    return core::fail(Errc::io_error, fmt::format("cannot create the media keys file {}: {}", file.string(), std::strerror(errno)));
  }
  std::ifstream in(file);
  if (!in) return core::fail(Errc::io_error, fmt::format("cannot read the media keys file {}", file.string()));
  std::vector<SigningKey> keys;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.empty() || line.front() == '#') continue;
    const auto space = line.find(' ');
    const std::string kid = line.substr(0, space);
    const auto secret = space == std::string::npos ? std::nullopt : base64url_decode(line.substr(space + 1));
    if (!valid_kid(kid) || !secret || secret->size() < 32)
      return core::fail(Errc::invalid_argument,
                        fmt::format("{} line {}: expected \"<kid> <secret>\": a kid of 1-32 characters [A-Za-z0-9_-] "
                                    "and at least 32 bytes of secret in base64url",
                                    file.string(), number));
    for (const auto& k : keys) {
      if (k.kid == kid) return core::fail(Errc::invalid_argument, fmt::format("{} line {}: the kid '{}' is there twice", file.string(), number, kid));
    }
    keys.push_back(SigningKey{kid, *secret});
  }
  if (keys.empty()) return core::fail(Errc::invalid_argument, fmt::format("{} holds no key", file.string()));
  return keys;
}

}  // namespace recorder::adapters::crypto
