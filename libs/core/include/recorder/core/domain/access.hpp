#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "recorder/core/domain/types.hpp"

namespace recorder::core {

// Who may do what (docs/protocol.md, "Who may do what"). Each role may do what the roles
// below it may: viewer reads and opens media; operator also starts and stops; admin also
// deletes and manages tokens.
enum class Role { viewer = 1, operator_ = 2, admin = 3 };

std::string_view to_string(Role r);
std::optional<Role> parse_role(std::string_view s);
inline bool allows(Role held, Role needed) { return static_cast<int>(held) >= static_cast<int>(needed); }

// An API token as it is listed: never its secret.
struct ApiToken {
  std::string id;  // public, in the token itself ("rec_<id>_<secret>")
  std::string name;
  Role role = Role::viewer;
  WallTime created_at;
  std::optional<WallTime> last_used_at;
  std::optional<WallTime> revoked_at;
};

}  // namespace recorder::core
