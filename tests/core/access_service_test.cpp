// Tokens and roles in the core, on fakes: what is stored, what authenticates, what each
// role may do, and the first start's admin token.

#include <catch2/catch.hpp>

#include <map>

#include "recorder/core/app/access_service.hpp"
#include "recorder/testing/fakes.hpp"

using namespace recorder;
using namespace recorder::core;
using namespace std::chrono_literals;

namespace {

struct Rig {
  testing::FakeClock clock;
  testing::MemoryTokens store;
  testing::CountingSecrets secrets;
  AccessService access{store, secrets, clock};
};

}  // namespace

TEST_CASE("a token is rec_<id>_<secret> - only its hash is stored - it authenticates with its role", "[core][access]") {
  Rig rig;
  auto made = rig.access.create("ci deploy", Role::operator_);
  REQUIRE(made);
  CHECK(made->secret.size() == 60);
  CHECK(made->secret.starts_with("rec_" + made->token.id + "_"));
  REQUIRE(rig.store.rows.size() == 1);
  const auto& stored = rig.store.rows.begin()->second;
  CHECK(stored.secret_hash == "h(" + made->secret + ")");
  CHECK(stored.token.name == "ci deploy");

  auto who = rig.access.authenticate(made->secret);
  REQUIRE(who);
  CHECK(who->role == Role::operator_);
  CHECK(who->last_used_at == rig.clock.wall_now());
}

TEST_CASE("what does not authenticate says why without saying whether the id exists", "[core][access]") {
  Rig rig;
  auto made = rig.access.create("kiosk", Role::viewer);
  REQUIRE(made);
  std::string wrong_secret = made->secret;
  wrong_secret.back() = wrong_secret.back() == 'x' ? 'y' : 'x';
  std::string unknown_id = made->secret;
  unknown_id[5] = unknown_id[5] == 'x' ? 'y' : 'x';
  for (const auto& [presented, words] : std::vector<std::pair<std::string, std::string>>{
           {"", "a token is required"},
           {"Bearer", "malformed"},
           {"rec_short", "malformed"},
           {made->secret + "x", "malformed"},
           {std::string(made->secret).replace(20, 1, "!"), "malformed"},
           {wrong_secret, "not valid (unknown or revoked)"},
           {unknown_id, "not valid (unknown or revoked)"}}) {
    INFO(presented);
    auto who = rig.access.authenticate(presented);
    REQUIRE_FALSE(who);
    CHECK(who.error().code == Errc::unauthenticated);
    CHECK_THAT(who.error().message, Catch::Contains(words));
  }
  REQUIRE(rig.access.revoke(made->token.id));
  auto revoked = rig.access.authenticate(made->secret);
  REQUIRE_FALSE(revoked);
  CHECK(revoked.error().code == Errc::unauthenticated);
  CHECK(rig.access.revoke(made->token.id).error().code == Errc::not_found);
}

TEST_CASE("roles: each allows what the ones below allow - a refusal names both roles", "[core][access]") {
  const ApiToken viewer{"v", "wall screen", Role::viewer, {}, {}, {}};
  const ApiToken op{"o", "scheduler", Role::operator_, {}, {}, {}};
  const ApiToken admin{"a", "root", Role::admin, {}, {}, {}};
  CHECK(AccessService::authorize(viewer, Role::viewer, "x"));
  CHECK(AccessService::authorize(op, Role::viewer, "x"));
  CHECK(AccessService::authorize(admin, Role::operator_, "x"));
  auto refused = AccessService::authorize(viewer, Role::operator_, "stopping a recording");
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::forbidden);
  CHECK(refused.error().message ==
        "stopping a recording needs the operator role; the token 'wall screen' has the viewer role");
  CHECK_FALSE(AccessService::authorize(op, Role::admin, "deleting a recording"));
  CHECK(parse_role("operator") == Role::operator_);
  CHECK_FALSE(parse_role("root"));
}

TEST_CASE("the last use is written at most once a second per token", "[core][access]") {
  Rig rig;
  auto made = rig.access.create("busy client", Role::viewer);
  REQUIRE(made);
  for (int i = 0; i < 10; ++i) REQUIRE(rig.access.authenticate(made->secret));
  CHECK(rig.store.touches == 1);
  rig.clock.advance(1s);
  REQUIRE(rig.access.authenticate(made->secret));
  CHECK(rig.store.touches == 2);
  CHECK(rig.store.rows.at(made->token.id).token.last_used_at == rig.clock.wall_now());
}

TEST_CASE("the first start makes one admin token - never a second - and a store outage is an error", "[core][access]") {
  Rig rig;
  auto first = rig.access.bootstrap_admin();
  REQUIRE(first);
  REQUIRE(first->has_value());
  CHECK((*first)->token.role == Role::admin);
  auto second = rig.access.bootstrap_admin();
  REQUIRE(second);
  CHECK_FALSE(second->has_value());
  CHECK(rig.store.rows.size() == 1);

  Rig down;
  down.store.down = true;
  auto failed = down.access.bootstrap_admin();
  REQUIRE_FALSE(failed);
  CHECK(failed.error().code == Errc::unavailable);
  auto refused = down.access.authenticate("rec_AAAAAAAAAAA1_" + std::string(43, 'A'));
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::unavailable);  // 503, not a 401 that would blame the token
}

TEST_CASE("token names are 1-100 characters without control characters", "[core][access]") {
  Rig rig;
  CHECK(rig.access.create("", Role::viewer).error().code == Errc::invalid_argument);
  CHECK(rig.access.create(std::string(101, 'n'), Role::viewer).error().code == Errc::invalid_argument);
  CHECK_THAT(rig.access.create("a\nb", Role::viewer).error().message, Catch::Contains("control characters"));
  CHECK(rig.access.create(std::string(100, 'n'), Role::viewer));
  CHECK(rig.access.create("Zoë's laptop ✓", Role::viewer));
}

TEST_CASE("a token id never starts with '-' - it must pass as a command-line argument", "[core][access]") {
  Rig rig;
  rig.secrets.leading_dash = true;
  auto made = rig.access.create("cli", Role::viewer);
  REQUIRE(made);
  CHECK(made->token.id.front() == '_');
  CHECK(made->secret.starts_with("rec__"));
  auto who = rig.access.authenticate(made->secret);
  REQUIRE(who);
  CHECK(who->id == made->token.id);
}
