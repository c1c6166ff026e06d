#include "recorder/core/app/access_service.hpp"

#include <array>
#include <utility>

#include <fmt/format.h>

namespace recorder::core {
namespace {

constexpr std::string_view kPrefix = "rec_";
constexpr std::size_t kIdChars = 12;      // 9 random bytes
constexpr std::size_t kSecretBytes = 32;  // 256 bits: 43 characters
constexpr std::size_t kSecretChars = 43;

constexpr std::array<std::pair<Role, std::string_view>, 3> kRoles{
    {{Role::viewer, "viewer"}, {Role::operator_, "operator"}, {Role::admin, "admin"}}};

bool base64url_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

// The id of a well-formed token, or nothing.
std::optional<std::string_view> token_id(std::string_view t) {
  if (t.size() != kPrefix.size() + kIdChars + 1 + kSecretChars || !t.starts_with(kPrefix)) return std::nullopt;
  const auto id = t.substr(kPrefix.size(), kIdChars);
  if (t[kPrefix.size() + kIdChars] != '_') return std::nullopt;
  for (char c : t.substr(kPrefix.size())) {
    if (!base64url_char(c)) return std::nullopt;
  }
  return id;
}

std::unexpected<Error> unauthenticated(std::string_view why) { return fail(Errc::unauthenticated, std::string(why)); }

}  // namespace

std::string_view to_string(Role r) {
  for (const auto& [role, name] : kRoles) {
    if (role == r) return name;
  }
  return "unknown";
}

std::optional<Role> parse_role(std::string_view s) {
  for (const auto& [role, name] : kRoles) {
    if (name == s) return role;
  }
  return std::nullopt;
}

Result<IssuedToken> AccessService::create(const std::string& name, Role role) {
  if (name.empty() || name.size() > 100)
    return fail(Errc::invalid_argument, fmt::format("name: 1 to 100 characters expected, got {}", name.size()));
  for (const char ch : name) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) return fail(Errc::invalid_argument, "name: control characters are not allowed");
  }
  IssuedToken issued;
  issued.token.id = secrets_.random_base64url(kIdChars / 4 * 3);
  // An id is typed as a command-line argument (recctl token revoke <id>): one that began
  // with '-' (1 in 64) would read as an option. base64url's '-' is swapped for its '_'.
  if (issued.token.id.starts_with('-')) issued.token.id.front() = '_';
  issued.token.name = name;
  issued.token.role = role;
  issued.token.created_at = clock_.wall_now();
  issued.secret = fmt::format("{}{}_{}", kPrefix, issued.token.id, secrets_.random_base64url(kSecretBytes));
  if (auto added = store_.add_token(StoredToken{issued.token, secrets_.hash(issued.secret)}); !added)
    return std::unexpected(added.error());
  return issued;
}

Result<std::vector<ApiToken>> AccessService::list() const { return store_.tokens(); }

Result<void> AccessService::revoke(const std::string& id) {
  auto revoked = store_.revoke_token(id, clock_.wall_now());
  if (!revoked) return std::unexpected(revoked.error());
  if (!*revoked) return fail(Errc::not_found, fmt::format("no live token with id '{}'", id));
  return ok();
}

Result<ApiToken> AccessService::authenticate(std::string_view presented) {
  if (presented.empty()) return (unauthenticated("a token is required: Authorization: Bearer <token>"));
  const auto id = token_id(presented);
  if (!id) return (unauthenticated("the token is malformed: recorderd tokens look like rec_<id>_<secret>"));
  auto found = store_.find_token(std::string(*id));
  if (!found) return std::unexpected(found.error());
  // The hash is compared even when there is no such id, so that both take the same time.
  const std::string hash = secrets_.hash(presented);
  const bool matches = *found && secrets_.equal(hash, (*found)->secret_hash);
  if (!matches || (*found)->token.revoked_at)
    return (unauthenticated("the token is not valid (unknown or revoked)"));
  ApiToken token = std::move((*found)->token);
  const WallTime now = clock_.wall_now();
  bool record = true;
  {
    std::lock_guard lock(touched_mutex_);
    auto [it, fresh] = touched_.try_emplace(token.id, now);
    if (!fresh) {
      record = now - it->second >= std::chrono::seconds(1);
      if (record) it->second = now;
    }
  }
  if (record) {
    // A failed write of the last use does not refuse the call: it is bookkeeping.
    if (store_.touch_token(token.id, now)) token.last_used_at = now;
  }
  return token;
}

Result<void> AccessService::authorize(const ApiToken& who, Role needed, std::string_view action) {
  if (allows(who.role, needed)) return ok();
  return fail(Errc::forbidden, fmt::format("{} needs the {} role; the token '{}' has the {} role", action,
                                           to_string(needed), who.name, to_string(who.role)));
}

Result<std::optional<IssuedToken>> AccessService::bootstrap_admin() {
  auto all = store_.tokens();
  if (!all) return std::unexpected(all.error());
  if (!all->empty()) return std::optional<IssuedToken>{};
  auto made = create("admin (made at first start)", Role::admin);
  if (!made) return std::unexpected(made.error());
  return std::optional<IssuedToken>{std::move(*made)};
}

}  // namespace recorder::core
