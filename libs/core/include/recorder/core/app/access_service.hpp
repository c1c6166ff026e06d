#pragma once

#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "recorder/core/domain/access.hpp"
#include "recorder/core/domain/error.hpp"
#include "recorder/core/ports/clock.hpp"
#include "recorder/core/ports/secrets.hpp"
#include "recorder/core/ports/token_store.hpp"

namespace recorder::core {

// A token just made: the only time its secret is seen.
struct IssuedToken {
  ApiToken token;
  std::string secret;  // "rec_<id>_<43 base64url characters>" (256 random bits)
};

// API tokens and roles. A token is "rec_<id>_<secret>": the id finds the stored row, and
// the SHA-256 of the whole token is compared with the stored hash in constant time. Only
// the hash is stored. Any thread.
class AccessService {
 public:
  AccessService(TokenStore& store, Secrets& secrets, Clock& clock) : store_(store), secrets_(secrets), clock_(clock) {}

  // `name`: 1-100 characters, no control characters.
  [[nodiscard]] Result<IssuedToken> create(const std::string& name, Role role);
  [[nodiscard]] Result<std::vector<ApiToken>> list() const;
  [[nodiscard]] Result<void> revoke(const std::string& id);

  // The token a caller presents (the value after "Bearer "). Errc::unauthenticated names
  // what is wrong without saying whether such an id exists. Records the use
  // (last_used_at, at most once a second per token).
  [[nodiscard]] Result<ApiToken> authenticate(std::string_view presented);
  // Errc::forbidden unless `who` holds `needed` (or more); the message names both roles.
  [[nodiscard]] static Result<void> authorize(const ApiToken& who, Role needed, std::string_view action);

  // First start: when no token exists at all, makes an admin token and returns it (the
  // caller writes it where an admin finds it). Otherwise nothing.
  [[nodiscard]] Result<std::optional<IssuedToken>> bootstrap_admin();

 private:
  TokenStore& store_;
  Secrets& secrets_;
  Clock& clock_;
  std::mutex touched_mutex_;
  std::unordered_map<std::string, WallTime> touched_;  // last recorded use per token id
};

}  // namespace recorder::core
