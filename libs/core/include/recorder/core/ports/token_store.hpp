#pragma once

#include <optional>
#include <string>
#include <vector>

#include "recorder/core/domain/access.hpp"
#include "recorder/core/domain/error.hpp"

namespace recorder::core {

// A token as the store keeps it: its secret only as a hash.
struct StoredToken {
  ApiToken token;
  std::string secret_hash;
};

// Where API tokens live (the same database as the recordings). Any thread; may block.
class TokenStore {
 public:
  virtual ~TokenStore() = default;
  [[nodiscard]] virtual Result<void> add_token(const StoredToken& t) = 0;
  [[nodiscard]] virtual Result<std::optional<StoredToken>> find_token(const std::string& id) = 0;
  // Every token, revoked ones too, oldest first.
  [[nodiscard]] virtual Result<std::vector<ApiToken>> tokens() = 0;
  // False when there is no such token or it was revoked already.
  [[nodiscard]] virtual Result<bool> revoke_token(const std::string& id, WallTime at) = 0;
  [[nodiscard]] virtual Result<void> touch_token(const std::string& id, WallTime at) = 0;
};

}  // namespace recorder::core
