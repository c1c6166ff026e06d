// One contract, two stores: every case runs against SQLite (a temporary file) and against
// a real PostgreSQL server (tests/support/postgres.sh, started by ctest; a fresh database
// per case). A missing server is a failure, never a skip.

#include <catch2/catch.hpp>

#include <algorithm>
#include <condition_variable>
#include <fstream>
#include <functional>
#include <mutex>
#include <random>
#include <thread>

#include <pqxx/pqxx>

#include "recorder/core/ports/token_store.hpp"
#include "recorder/testing/temp_dir.hpp"
#include "recorder/adapters/postgres/postgres_listener.hpp"
#include "recorder/adapters/postgres/postgres_repository.hpp"
#include "recorder/adapters/sqlite/sqlite_repository.hpp"
#include "recorder/testing/test_postgres.hpp"

using recorder::testing::TempDir;

using namespace recorder;
using namespace std::chrono_literals;

namespace {

// A store under test, with what it takes to open it again.
struct Store {
  std::string backend;
  std::unique_ptr<TempDir> dir;
  std::string db_url;
  std::unique_ptr<core::RecordingRepository> repo;
  core::OutboxStore* outbox = nullptr;  // the same object as repo

  std::unique_ptr<core::RecordingRepository> open_again(core::OutboxStore** as_outbox = nullptr) const {
    if (backend == "sqlite") {
      auto r = adapters::sqlite::SqliteRepository::open(dir->path() / "recorderd.db");
      REQUIRE(r);
      if (as_outbox) *as_outbox = r->get();
      return std::move(*r);
    }
    auto pg = std::make_unique<adapters::postgres::PostgresRepository>(db_url);
    auto c = pg->connect();
    INFO((c ? "" : c.error().message));
    REQUIRE(c);
    if (as_outbox) *as_outbox = pg.get();
    return pg;
  }
};

Store make_store(const std::string& backend) {
  Store s;
  s.backend = backend;
  s.dir = std::make_unique<TempDir>("recorder-store");
  if (backend == "postgres") {
    const std::string admin = testing::test_postgres_url();
    std::random_device rd;
    const std::string name = "contract_" + std::to_string(rd()) + std::to_string(rd());
    pqxx::connection c(admin);
    pqxx::nontransaction(c).exec("CREATE DATABASE " + name);
    s.db_url = admin.substr(0, admin.rfind('/') + 1) + name;
  }
  s.repo = s.open_again(&s.outbox);
  return s;
}

core::WallTime at(int minutes) {
  return core::WallTime{} + std::chrono::hours{24 * 365 * 56} + std::chrono::minutes{minutes};
}

core::Recording rich_recording(const std::string& id, int minute) {
  core::Recording r;
  r.id = id;
  r.kind = core::SourceKind::stream;
  r.meta = {"Team Standup Meeting", "john@company.com", "owner-1", "", "", "", "video/webm", "sess-" + id};
  r.format = "wav";
  r.revision = 41;
  r.expected_duration = 3600s;
  r.limits = core::StreamLimits{3600s, 1048576, 524288000, 100000};
  r.state = core::State::recording;
  r.created_at = at(minute);
  r.started_at = at(minute) + 1s;
  r.last_activity_at = at(minute) + 30s;
  for (core::ChunkIndex i : {0u, 1u, 2u, 5u, 6u}) r.ledger.add(i, 1000 + i);
  r.missing_chunks = {3, 4};
  r.files = {core::MediaFile{id + "/original.webm", core::FileRole::original, 5010, 30.5},
             core::MediaFile{id + "/audio \"x\".wav", core::FileRole::converted, 99, std::nullopt}};
  r.duration_seconds = 30.25;
  r.start_attempts = 2;
  r.error = "line one\nline 'two' ✓";
  r.current_file = "recordings/" + id + "/cam0_2026-01-01_10-00-00.mp4";
  r.agent = core::AgentReportState{"recording", 310.5, 3289.5, "2025-10-30T15:05:10.123456"};
  r.video = core::UploadedVideo{"https://files.example/a b.mp4", 123456789012};
  return r;
}

core::Recording agent_recording(const std::string& id, int minute, core::State state) {
  core::Recording r;
  r.id = id;
  r.kind = core::SourceKind::agent;
  r.meta.subject = "Standup";
  r.meta.organizer = "john@company.com";
  r.meta.start_time = "2025-10-30T15:00:00Z";
  r.meta.agent_id = "room-1";
  r.meta.device = "room-1";
  r.meta.notify = {"ann@company.com", "bob@company.com"};
  r.remote_triggered = true;
  r.state = state;
  r.created_at = at(minute);
  return r;
}

core::RecordingEvent event(const std::string& id, int minute, core::State from, core::State to, std::string name) {
  return core::RecordingEvent{id, at(minute), core::Transition{from, to, std::move(name), core::StopReason::manual, "why"}};
}

std::vector<std::string> ids(const core::Result<std::vector<core::Recording>>& rs) {
  REQUIRE(rs);
  std::vector<std::string> out;
  for (const auto& r : *rs) out.push_back(r.id);
  return out;
}

}  // namespace

TEST_CASE("store contract", "[store]") {
  const std::string backend = GENERATE(as<std::string>{}, "sqlite", "postgres");
  Store s = make_store(backend);
  core::RecordingRepository& repo = *s.repo;
  INFO("backend: " << backend);

  SECTION("a saved recording reads back field for field") {
    const auto r = rich_recording("r-1", 0);
    REQUIRE(repo.save(r, {}, {}));
    auto found = repo.find("r-1");
    REQUIRE(found);
    REQUIRE(found->has_value());
    CHECK(**found == r);
    CHECK(repo.find("nobody")->has_value() == false);
  }

  SECTION("saving again updates it and appends its events in order") {
    auto r = rich_recording("r-2", 0);
    const std::vector first{event("r-2", 0, core::State::starting, core::State::starting, "created"),
                            event("r-2", 0, core::State::starting, core::State::recording, "started")};
    REQUIRE(repo.save(r, first, {}));
    r.state = core::State::finalizing;
    r.stop_reason = core::StopReason::disconnect;
    r.stopped_at = at(5);
    const std::vector second{event("r-2", 5, core::State::recording, core::State::finalizing, "deadline:grace")};
    REQUIRE(repo.save(r, second, {}));
    CHECK(repo.find("r-2")->value() == r);
    auto log = repo.events("r-2");
    REQUIRE(log);
    REQUIRE(log->size() == 3);
    CHECK((*log)[0].transition.event == "created");
    CHECK((*log)[2].transition.event == "deadline:grace");
    CHECK((*log)[2].transition.to == core::State::finalizing);
    CHECK((*log)[2].transition.reason == core::StopReason::manual);
    CHECK((*log)[2].transition.detail == "why");
    CHECK((*log)[2].at == at(5));
    CHECK(repo.events("other")->empty());
  }

  SECTION("unfinished recordings come back oldest first for recovery") {
    auto a = rich_recording("a", 3);
    auto b = rich_recording("b", 1);
    b.state = core::State::finalizing;
    auto c = rich_recording("c", 2);
    c.state = core::State::ready;
    auto d = agent_recording("d", 4, core::State::stale);
    for (const auto* r : {&a, &b, &c, &d}) REQUIRE(repo.save(*r, {}, {}));
    CHECK(ids(repo.find_unfinished()) == std::vector<std::string>{"b", "a", "d"});
  }

  SECTION("the agent key finds the live recording first, else the newest") {
    REQUIRE(repo.save(agent_recording("old", 1, core::State::ready), {}, {}));
    REQUIRE(repo.save(agent_recording("live", 2, core::State::recording), {}, {}));
    REQUIRE(repo.save(agent_recording("newer-done", 3, core::State::failed), {}, {}));
    const std::string key = "john@company.com:Standup:2025-10-30T15:00:00Z";
    CHECK(repo.find_by_agent_key(key)->value().id == "live");
    auto live = agent_recording("live", 2, core::State::ready);
    REQUIRE(repo.save(live, {}, {}));
    CHECK(repo.find_by_agent_key(key)->value().id == "newer-done");
    CHECK_FALSE(repo.find_by_agent_key("x:y:z")->has_value());
  }

  SECTION("lists filter by state, kind and device and page by time, newest first") {
    for (int i = 0; i < 7; ++i) {
      auto r = rich_recording("s" + std::to_string(i), i);
      r.state = i % 2 == 0 ? core::State::ready : core::State::recording;
      REQUIRE(repo.save(r, {}, {}));
    }
    auto cam = agent_recording("cam", 10, core::State::recording);
    cam.kind = core::SourceKind::capture;
    cam.meta.device = "/dev/video0";
    cam.meta.organizer = "ann@company.com";
    REQUIRE(repo.save(cam, {}, {}));

    core::RecordingQuery all;
    CHECK(ids(repo.list(all)) == std::vector<std::string>{"cam", "s6", "s5", "s4", "s3", "s2", "s1", "s0"});
    core::RecordingQuery ready;
    ready.state = core::State::ready;
    CHECK(ids(repo.list(ready)) == std::vector<std::string>{"s6", "s4", "s2", "s0"});
    core::RecordingQuery finished;
    finished.finished = true;
    finished.limit = 3;
    CHECK(ids(repo.list(finished)) == std::vector<std::string>{"s6", "s4", "s2"});
    core::RecordingQuery captures;
    captures.kind = core::SourceKind::capture;
    CHECK(ids(repo.list(captures)) == std::vector<std::string>{"cam"});
    core::RecordingQuery device;
    device.device = "/dev/video0";
    CHECK(ids(repo.list(device)) == std::vector<std::string>{"cam"});
    core::RecordingQuery page;
    page.kind = core::SourceKind::stream;
    page.limit = 3;
    CHECK(ids(repo.list(page)) == std::vector<std::string>{"s6", "s5", "s4"});
    page.after = core::RecordingCursor{at(4), "s4"};
    CHECK(ids(repo.list(page)) == std::vector<std::string>{"s3", "s2", "s1"});
    page.after = core::RecordingCursor{at(1), "s1"};
    CHECK(ids(repo.list(page)) == std::vector<std::string>{"s0"});
    core::RecordingQuery window;
    window.created_since = at(2);
    window.created_until = at(4);
    CHECK(ids(repo.list(window)) == std::vector<std::string>{"s3", "s2"});
    core::RecordingQuery organizer;
    organizer.organizer = "ann@company.com";
    CHECK(ids(repo.list(organizer)) == std::vector<std::string>{"cam"});
    core::RecordingQuery agent;  // cam is the agent fixture made a capture: it keeps agent_id room-1
    agent.agent_id = "room-1";
    CHECK(ids(repo.list(agent)) == std::vector<std::string>{"cam"});
    agent.agent_id = "room-2";
    CHECK(ids(repo.list(agent)).empty());
    core::RecordingQuery session;
    session.session_id = "sess-s3";
    CHECK(ids(repo.list(session)) == std::vector<std::string>{"s3"});
    // Two recordings made in the same microsecond page by id, neither lost nor repeated.
    for (const char* id : {"tie-a", "tie-b"}) REQUIRE(repo.save(rich_recording(id, 20), {}, {}));
    core::RecordingQuery ties;
    ties.created_since = at(20);
    ties.limit = 1;
    CHECK(ids(repo.list(ties)) == std::vector<std::string>{"tie-b"});
    ties.after = core::RecordingCursor{at(20), "tie-b"};
    CHECK(ids(repo.list(ties)) == std::vector<std::string>{"tie-a"});
    ties.after = core::RecordingCursor{at(20), "tie-a"};
    CHECK(ids(repo.list(ties)).empty());
  }

  SECTION("what was saved is there after the store is opened again; migrations run once") {
    const auto r = rich_recording("kept", 0);
    REQUIRE(repo.save(r, std::vector{event("kept", 0, core::State::starting, core::State::recording, "started")}, {}));
    s.repo.reset();
    auto again = s.open_again();
    CHECK(again->find("kept")->value() == r);
    CHECK(again->events("kept")->size() == 1);
    if (backend == "sqlite") {
      CHECK(dynamic_cast<adapters::sqlite::SqliteRepository&>(*again).schema_version() == 9);
    } else {
      CHECK(dynamic_cast<adapters::postgres::PostgresRepository&>(*again).schema_version() == 9);
    }
  }
}

TEST_CASE("outbox contract", "[store][outbox]") {
  const std::string backend = GENERATE(as<std::string>{}, "sqlite", "postgres");
  Store s = make_store(backend);
  core::RecordingRepository& repo = *s.repo;
  core::OutboxStore& outbox = *s.outbox;
  INFO("backend: " << backend);
  const auto r = rich_recording("r-1", 0);
  const core::NoticeBody started = core::RecordingNotice{"n-1", at(1), core::Notice::started, r};
  const core::NoticeBody alert = core::Alert{"n-2", at(2), core::Severity::critical, "it \"broke\"\nbadly", "r-1", "webhook:ops"};
  const core::NoticeBody storage = core::StorageNotice{"n-3", at(3), core::StorageLevel::warn, 84.5};
  const core::NoticeBody global = core::Alert{"n-4", at(4), core::Severity::warning, "disk", std::nullopt, ""};
  const core::NoticeBody joined = core::AgentNotice{"n-5", at(5), "room \"1\"", true, "connected from 10.0.0.7:4410"};
  const core::NoticeBody left = core::AgentNotice{"n-6", at(6), "room \"1\"", false, "its connection closed"};
  auto bodies = [](const core::Result<std::vector<core::OutboxEntry>>& entries) {
    REQUIRE(entries);
    std::vector<core::NoticeBody> out;
    for (const auto& e : *entries) out.push_back(e.body);
    return out;
  };

  SECTION("notices saved with a recording and on their own read back in order - field for field") {
    REQUIRE(outbox.add_subscriber("log"));
    REQUIRE(repo.save(r, {}, std::vector{started, alert}));
    REQUIRE(outbox.append(std::vector{storage, global, joined, left}));
    auto pending = outbox.undelivered("log", 10);
    CHECK(bodies(pending) == std::vector{started, alert, storage, global, joined, left});
    for (std::size_t i = 1; i < pending->size(); ++i) CHECK((*pending)[i].seq > (*pending)[i - 1].seq);
  }

  SECTION("the latest notices of a type come newest first - for the dashboard's alerts") {
    REQUIRE(repo.save(r, {}, std::vector{started, alert}));
    REQUIRE(outbox.append(std::vector{storage, global, joined}));
    CHECK(bodies(outbox.latest("alert.", 10)) == std::vector{global, alert});
    CHECK(bodies(outbox.latest("alert.", 1)) == std::vector{global});
    CHECK(bodies(outbox.latest("agent.connected", 10)) == std::vector{joined});
    CHECK(bodies(outbox.latest("recording.", 10)) == std::vector{started});
    CHECK(outbox.latest("webhook.", 10)->empty());
    CHECK(bodies(outbox.latest("", 2)) == std::vector{joined, global});
  }

  SECTION("a notice saved twice - a retried commit - is kept once") {
    REQUIRE(outbox.add_subscriber("log"));
    REQUIRE(repo.save(r, {}, std::vector{started}));
    REQUIRE(repo.save(r, {}, std::vector{started, alert}));
    CHECK(bodies(outbox.undelivered("log", 10)) == std::vector{started, alert});
  }

  SECTION("delivery is marked per subscriber - a new subscriber is handed only what comes after it") {
    REQUIRE(outbox.add_subscriber("a"));
    REQUIRE(outbox.append(std::vector{started}));
    REQUIRE(outbox.add_subscriber("b"));
    REQUIRE(outbox.add_subscriber("a"));  // known: unchanged
    REQUIRE(outbox.append(std::vector{alert}));
    auto for_a = outbox.undelivered("a", 10);
    CHECK(bodies(for_a) == std::vector{started, alert});
    CHECK(bodies(outbox.undelivered("b", 10)) == std::vector{alert});
    CHECK(bodies(outbox.undelivered("a", 1)) == std::vector{started});
    CHECK(outbox.pending("a") == 2u);
    CHECK(outbox.pending("b") == 1u);
    const std::vector<std::uint64_t> first{(*for_a)[0].seq};
    REQUIRE(outbox.mark_delivered("a", first));
    REQUIRE(outbox.mark_delivered("a", first));  // twice changes nothing
    CHECK(bodies(outbox.undelivered("a", 10)) == std::vector{alert});
    CHECK(outbox.pending("a") == 1u);
    CHECK(outbox.pending("nobody") == 0u);
    CHECK(bodies(outbox.undelivered("b", 10)) == std::vector{alert});
    CHECK(outbox.undelivered("nobody", 10)->empty());

    s.repo.reset();
    core::OutboxStore* reopened = nullptr;
    auto again = s.open_again(&reopened);
    CHECK(bodies(reopened->undelivered("a", 10)) == std::vector{alert});
    REQUIRE(again->ping());
  }
}

TEST_CASE("token contract", "[store][tokens]") {
  const std::string backend = GENERATE(as<std::string>{}, "sqlite", "postgres");
  Store s = make_store(backend);
  INFO("backend: " << backend);
  auto& tokens = dynamic_cast<core::TokenStore&>(*s.repo);
  const core::StoredToken a{{"id-a", "ci \"deploy\" ✓", core::Role::operator_, at(1), std::nullopt, std::nullopt},
                            "hash-a"};
  const core::StoredToken b{{"id-b", "wall screen", core::Role::viewer, at(2), at(3), std::nullopt}, "hash-b"};
  REQUIRE(tokens.add_token(a));
  REQUIRE(tokens.add_token(b));
  CHECK_FALSE(tokens.add_token(a));  // an id is unique

  auto found = tokens.find_token("id-a");
  REQUIRE(found);
  REQUIRE(found->has_value());
  CHECK((*found)->secret_hash == "hash-a");
  CHECK((*found)->token.name == a.token.name);
  CHECK((*found)->token.role == core::Role::operator_);
  CHECK((*found)->token.created_at == at(1));
  CHECK_FALSE((*found)->token.last_used_at);
  CHECK_FALSE(tokens.find_token("nope")->has_value());

  auto all = tokens.tokens();
  REQUIRE(all);
  REQUIRE(all->size() == 2);
  CHECK((*all)[0].id == "id-a");
  CHECK((*all)[1].id == "id-b");
  CHECK((*all)[1].last_used_at == at(3));

  REQUIRE(tokens.touch_token("id-a", at(5)));
  CHECK(tokens.find_token("id-a")->value().token.last_used_at == at(5));
  CHECK(tokens.revoke_token("id-a", at(6)) == true);
  CHECK(tokens.revoke_token("id-a", at(7)) == false);  // already revoked
  CHECK(tokens.revoke_token("nope", at(7)) == false);
  CHECK(tokens.find_token("id-a")->value().token.revoked_at == at(6));
  CHECK_FALSE(tokens.find_token("id-b")->value().token.revoked_at);
}

TEST_CASE("SQLite: an unwritable database path is a clear error", "[store][sqlite]") {
  auto r = adapters::sqlite::SqliteRepository::open("/proc/no/such/dir/recorderd.db");
  REQUIRE_FALSE(r);
  CHECK(r.error().code == core::Errc::unavailable);
  CHECK(r.error().message.find("/proc/no/such/dir/recorderd.db") != std::string::npos);
}

TEST_CASE("Postgres: an unreachable server is unavailable - not a crash", "[store][postgres]") {
  adapters::postgres::PostgresRepository repo("postgresql://postgres@127.0.0.1:1/postgres?connect_timeout=2");
  auto r = repo.find("x");
  REQUIRE_FALSE(r);
  CHECK(r.error().code == core::Errc::unavailable);
  auto again = repo.save(rich_recording("x", 0), {}, {});
  REQUIRE_FALSE(again);
  CHECK(again.error().message.find("next attempt in") != std::string::npos);
}

TEST_CASE("Postgres: a server restart mid-session is survived by reconnecting with back-off", "[store][postgres]") {
  Store s = make_store("postgres");
  auto& repo = *s.repo;
  REQUIRE(repo.save(rich_recording("before", 0), {}, {}));

  testing::test_postgres("stop");
  auto down = repo.save(rich_recording("during", 1), {}, {});
  REQUIRE_FALSE(down);
  CHECK(down.error().code == core::Errc::unavailable);
  testing::test_postgres("start");

  // Back-off is at most 5 s; give it a generous deadline and stop as soon as it is back.
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  core::Result<void> saved = core::fail(core::Errc::unavailable, "not tried");
  while (std::chrono::steady_clock::now() < deadline) {
    saved = repo.save(rich_recording("during", 1), {}, {});
    if (saved) break;
    CHECK(saved.error().code == core::Errc::unavailable);
    std::this_thread::sleep_for(50ms);
  }
  INFO((saved ? "" : saved.error().message));
  REQUIRE(saved);
  CHECK(repo.find("before")->has_value());
  CHECK(repo.find("during")->has_value());
}

TEST_CASE("inbound hook receipts contract", "[store][hooks]") {
  const std::string backend = GENERATE(as<std::string>{}, "sqlite", "postgres");
  Store s = make_store(backend);
  INFO("backend: " << backend);
  auto& receipts = dynamic_cast<core::HookReceipts&>(*s.repo);
  CHECK(receipts.hook_taken("msg_1").value() == false);
  REQUIRE(receipts.take_hook("msg_1", "recording.complete", "r-1", at(1)));
  CHECK(receipts.hook_taken("msg_1").value() == true);
  CHECK(receipts.hook_taken("msg_2").value() == false);
  // Taking the same id again is no error and changes nothing.
  REQUIRE(receipts.take_hook("msg_1", "recording.failed", "r-2", at(2)));
  CHECK(receipts.hook_taken("msg_1").value() == true);
  // Kept across a reopen.
  s.repo.reset();
  auto again = s.open_again();
  CHECK(dynamic_cast<core::HookReceipts&>(*again).hook_taken("msg_1").value() == true);
}

TEST_CASE("webhook endpoints contract", "[store][hooks]") {
  const std::string backend = GENERATE(as<std::string>{}, "sqlite", "postgres");
  Store s = make_store(backend);
  INFO("backend: " << backend);
  auto& hooks = dynamic_cast<core::WebhookStore&>(*s.repo);
  CHECK(hooks.webhook_endpoints()->empty());
  const core::WebhookEndpoint ops{"ops", "https://hooks.example/ops", {"whsec_bmV3", "whsec_b2xk"}, {"recording.*", "alert.critical"}};
  const core::WebhookEndpoint all{"all", "http://127.0.0.1:9/hook", {"whsec_AAAA"}, {}};
  CHECK(hooks.add_webhook_endpoint(ops, at(1)).value());
  CHECK(hooks.add_webhook_endpoint(all, at(2)).value());
  CHECK_FALSE(hooks.add_webhook_endpoint(core::WebhookEndpoint{"ops", "https://other", {"whsec_AAAA"}, {}}, at(3)).value());
  CHECK(hooks.webhook_endpoints().value() == std::vector{ops, all});  // oldest first, field for field
  // Its outbox bookkeeping goes with it: added again, it starts from now.
  REQUIRE(s.outbox->add_subscriber("webhook:ops"));
  const core::NoticeBody before = core::Alert{"n-1", at(4), core::Severity::warning, "x", std::nullopt, "storage"};
  REQUIRE(s.outbox->append(std::span(&before, 1)));
  CHECK(s.outbox->pending("webhook:ops").value() == 1);
  CHECK(hooks.remove_webhook_endpoint("ops", "webhook:ops").value());
  CHECK_FALSE(hooks.remove_webhook_endpoint("ops", "webhook:ops").value());
  REQUIRE(s.outbox->add_subscriber("webhook:ops"));
  CHECK(s.outbox->pending("webhook:ops").value() == 0);
  s.repo.reset();
  auto again = s.open_again();
  CHECK(dynamic_cast<core::WebhookStore&>(*again).webhook_endpoints().value() == std::vector{all});
}

// Several instances on one Postgres (docs/adr/0017-cluster-leases.md): two repositories on
// one database stand for two recorderd processes.
TEST_CASE("Postgres cluster: leases fence a stale owner - expired ones are claimed once - one leader",
          "[store][postgres][cluster]") {
  Store s = make_store("postgres");
  auto& one = dynamic_cast<adapters::postgres::PostgresRepository&>(*s.repo);
  auto two_repo = s.open_again(nullptr);
  auto& two = dynamic_cast<adapters::postgres::PostgresRepository&>(*two_repo);
  const core::InstanceInfo first{"one", "inc-1", "127.0.0.1:1", {"cam"}, 1s};
  const core::InstanceInfo second{"two", "inc-2", "127.0.0.1:2", {}, 1s};
  REQUIRE(one.join(first));
  REQUIRE(two.join(second));

  // A process with a live instance's id is refused, naming it.
  auto third_repo = s.open_again(nullptr);
  auto dup = dynamic_cast<adapters::postgres::PostgresRepository&>(*third_repo).join({"one", "inc-3", "x", {}, 1s});
  REQUIRE_FALSE(dup);
  CHECK(dup.error().code == core::Errc::id_taken);
  CHECK_THAT(dup.error().message, Catch::Contains("cluster.instance_id 'one' is in use"));

  core::Recording r = rich_recording("lease-1", 1);
  r.lease = {"one", 1};
  REQUIRE(one.save(r, {}, {}));
  auto renewed = one.renew_leases();
  REQUIRE(renewed);
  CHECK(*renewed == std::vector<core::HeldLease>{{"lease-1", 1}});

  // While the lease runs, the other instance can neither claim nor write it.
  auto early = two.claim("lease-1");
  REQUIRE_FALSE(early);
  CHECK(early.error().code == core::Errc::lease_lost);
  CHECK_THAT(early.error().message, Catch::Contains("live on instance 'one'"));
  core::Recording forged = r;
  forged.error = "written by two";
  auto refused = two.save(forged, {}, {});
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == core::Errc::lease_lost);
  CHECK((*one.find("lease-1"))->error == r.error);
  auto nothing = two.claim_expired(false, 10);
  REQUIRE(nothing);
  CHECK(nothing->empty());

  // Expired: claimed once (the epoch rises), and the old owner is fenced.
  std::this_thread::sleep_for(1200ms);
  auto claimed = two.claim_expired(false, 10);
  REQUIRE(claimed);
  REQUIRE(claimed->size() == 1);
  CHECK(claimed->front().lease == core::LeaseHolder{"two", 2});
  auto again = one.claim_expired(false, 10);
  REQUIRE(again);
  CHECK(again->empty());
  r.error = "written by the paused owner";
  auto fenced = one.save(r, {}, {});
  REQUIRE_FALSE(fenced);
  CHECK(fenced.error().code == core::Errc::lease_lost);
  CHECK_THAT(fenced.error().message, Catch::Contains("held by instance 'two' under lease epoch 2"));
  auto lost = one.renew_leases();
  REQUIRE(lost);
  CHECK(lost->empty());
  core::Recording taken = claimed->front();
  taken.state = core::State::ready;
  REQUIRE(two.save(taken, {}, {}));
  // Finished: anyone may write it (a delete through any instance); nobody claims it.
  taken.state = core::State::deleted;
  REQUIRE(one.save(taken, {}, {}));
  auto finished = one.claim("lease-1");
  REQUIRE(finished);
  CHECK_FALSE(finished->has_value());

  // A capture is claimed only by an instance that reaches its device.
  core::Recording cam = rich_recording("cam-1", 2);
  cam.kind = core::SourceKind::capture;
  cam.meta.device = "cam";
  cam.lease = {"one", 1};
  REQUIRE(one.save(cam, {}, {}));
  std::this_thread::sleep_for(1200ms);
  auto cams = two.claim_expired(false, 10);
  REQUIRE(cams);
  CHECK(cams->empty());
  auto mine = one.claim_expired(true, 10);
  REQUIRE(mine);
  REQUIRE(mine->size() == 1);
  CHECK(mine->front().lease == core::LeaseHolder{"one", 2});

  // One leader at a time; it moves when its lease runs out, or at once when it leaves.
  REQUIRE(one.lead());
  CHECK(*one.lead());
  CHECK_FALSE(*two.lead());
  REQUIRE(one.leave());
  CHECK(*two.lead());
  REQUIRE(two.heartbeat());
  auto view = two.view();
  REQUIRE(view);
  CHECK(view->leader == "two");
  REQUIRE(view->instances.size() == 2);
  CHECK(view->instances[0].id == "one");
  CHECK(view->instances[0].stopped);
  CHECK_FALSE(view->instances[0].alive);
  CHECK(view->instances[0].devices == std::vector<std::string>{"cam"});
  CHECK(view->instances[1].alive);
  CHECK(view->unowned == 1);  // the camera "one" released when it left
}

namespace {

// What a listener heard, to wait on with a deadline.
struct Heard {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::string> payloads;
  int connections = 0;

  void add(const std::string& p) {
    {
      std::lock_guard lock(mutex);
      payloads.push_back(p);
    }
    changed.notify_all();
  }
  void connected() {
    {
      std::lock_guard lock(mutex);
      ++connections;
    }
    changed.notify_all();
  }
  bool wait(const std::function<bool()>& done) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, 10s, done);
  }
  bool has(const std::string& p) { return std::ranges::find(payloads, p) != payloads.end(); }
};

}  // namespace

TEST_CASE("Postgres cluster: a command reaches its addressee - is answered once - a handover moves the lease",
          "[store][postgres][cluster]") {
  Store s = make_store("postgres");
  auto& one = dynamic_cast<adapters::postgres::PostgresRepository&>(*s.repo);
  auto two_repo = s.open_again(nullptr);
  auto& two = dynamic_cast<adapters::postgres::PostgresRepository&>(*two_repo);
  REQUIRE(one.join({"one", "inc-1", "127.0.0.1:1", {}, 5s}));
  REQUIRE(two.join({"two", "inc-2", "127.0.0.1:2", {}, 5s}));
  Heard heard;
  adapters::postgres::PostgresListener listener(
      s.db_url, std::string(adapters::postgres::kNotifyChannel), [&](const std::string& p) { heard.add(p); },
      [&] { heard.connected(); }, adapters::postgres::Reconnect{50ms, 200ms});
  listener.start();
  REQUIRE(heard.wait([&] { return heard.connections == 1; }));

  core::Recording r = rich_recording("held-1", 1);
  r.lease = {"one", 1};
  REQUIRE(one.save(r, {}, {}));

  // "two" asks "one" to hand it over: "one" is woken, sees the command, and only it does.
  auto seq = two.send("one", core::ClusterCommand{0, "two", core::CommandKind::release, "held-1", 1, "two"}, 5s);
  REQUIRE(seq);
  REQUIRE(heard.wait([&] { return heard.has("command one"); }));
  auto none = two.commands();
  REQUIRE(none);
  CHECK(none->empty());
  auto inbox = one.commands();
  REQUIRE(inbox);
  REQUIRE(inbox->size() == 1);
  const core::ClusterCommand c = inbox->front();
  CHECK(c.seq == *seq);
  CHECK(c.from == "two");
  CHECK(c.kind == core::CommandKind::release);
  CHECK(c.recording == "held-1");
  CHECK(c.epoch == 1);
  auto unanswered = two.outcome(*seq);
  REQUIRE(unanswered);
  CHECK_FALSE(unanswered->has_value());

  // A handover under a stale epoch is refused; under the right one the lease is two's.
  auto stale = one.hand_over("held-1", 7, "two");
  REQUIRE_FALSE(stale);
  CHECK(stale.error().code == core::Errc::lease_lost);
  REQUIRE(one.hand_over("held-1", 1, "two"));
  CHECK((*two.find("held-1"))->lease == core::LeaseHolder{"two", 2});
  auto fenced = one.save(r, {}, {});
  REQUIRE_FALSE(fenced);
  CHECK_THAT(fenced.error().message, Catch::Contains("held by instance 'two' under lease epoch 2"));
  auto two_holds = two.renew_leases();
  REQUIRE(two_holds);
  CHECK(*two_holds == std::vector<core::HeldLease>{{"held-1", 2}});

  REQUIRE(one.answer(c, core::ok()));
  REQUIRE(heard.wait([&] { return heard.has("answer two"); }));
  CHECK(one.commands()->empty());  // answered: not run again
  auto answered = two.outcome(*seq);
  REQUIRE(answered);
  REQUIRE(answered->has_value());
  CHECK(answered->value().has_value());
  auto forgotten = two.outcome(*seq);  // read once, then gone
  REQUIRE(forgotten);
  CHECK_FALSE(forgotten->has_value());

  // A failure travels with its code and words.
  auto seq2 = one.send("two", core::ClusterCommand{0, "one", core::CommandKind::stop, "held-1", 2, "manual"}, 5s);
  REQUIRE(seq2);
  auto second = two.commands();
  REQUIRE(second);
  REQUIRE(second->size() == 1);
  REQUIRE(two.answer(second->front(), core::fail(core::Errc::invalid_state, "recording held-1 is finalizing")));
  auto failed = one.outcome(*seq2);
  REQUIRE(failed);
  REQUIRE(failed->has_value());
  REQUIRE_FALSE(failed->value());
  CHECK(failed->value().error() == core::Error{core::Errc::invalid_state, "recording held-1 is finalizing", "held-1"});

  // An expired command is not run.
  REQUIRE(one.send("two", core::ClusterCommand{0, "one", core::CommandKind::stop, "held-1", 2, "manual"}, 1ms));
  std::this_thread::sleep_for(50ms);
  CHECK(two.commands()->empty());

  // An instance that is not running is not asked at all.
  auto ghost = one.send("ghost", core::ClusterCommand{0, "one", core::CommandKind::stop, "held-1", 2, "manual"}, 5s);
  REQUIRE_FALSE(ghost);
  CHECK(ghost.error().code == core::Errc::unavailable);
  CHECK_THAT(ghost.error().message, Catch::Contains("instance 'ghost' is not running"));

  // New notices wake the other instances' dispatchers.
  REQUIRE(one.append(std::vector<core::NoticeBody>{core::Alert{"n-1", at(1), core::Severity::warning, "disk", std::nullopt, "storage"}}));
  REQUIRE(heard.wait([&] { return heard.has("outbox"); }));

  // The listener's backend is killed: it connects again (a new backend pid), says so, and
  // hears what is sent after.
  const int pid = listener.backend_pid();
  REQUIRE(pid != 0);
  {
    pqxx::connection admin(s.db_url);
    pqxx::nontransaction(admin).exec_params("SELECT pg_terminate_backend($1)", pid);
  }
  REQUIRE(heard.wait([&] { return heard.connections == 2; }));
  CHECK(listener.backend_pid() != pid);
  REQUIRE(two.send("one", core::ClusterCommand{0, "two", core::CommandKind::stop, "held-1", 2, "manual"}, 5s));
  REQUIRE(heard.wait([&] {
    return std::ranges::count(heard.payloads, std::string("command one")) == 2;
  }));
  listener.stop();
  CHECK(listener.backend_pid() == 0);
}

TEST_CASE("Postgres cluster: instances long gone are forgotten at the next join - unless they hold a recording",
          "[store][postgres][cluster]") {
  Store s = make_store("postgres");
  auto& one = dynamic_cast<adapters::postgres::PostgresRepository&>(*s.repo);
  REQUIRE(one.join({"one", "inc-1", "127.0.0.1:1", {}, 5s}));
  core::Recording held = rich_recording("held-by-ghost", 1);
  held.lease = {"one", 1};
  REQUIRE(one.save(held, {}, {}));
  {
    pqxx::connection c(s.db_url);
    pqxx::work tx(c);
    // "one" crashed a day ago holding a recording; two others left or went silent long ago.
    tx.exec("UPDATE cluster_instances SET heartbeat_at = now() - interval '25 hours'");
    tx.exec("INSERT INTO cluster_instances (id, incarnation, started_at, heartbeat_at, stopped_at) VALUES "
            "('left', 'x', now() - interval '1 hour', now() - interval '11 minutes', now() - interval '11 minutes'), "
            "('left-now', 'y', now() - interval '1 hour', now() - interval '1 minute', now() - interval '1 minute'), "
            "('silent', 'z', now() - interval '2 days', now() - interval '25 hours', NULL)");
    tx.commit();
  }
  auto two_repo = s.open_again(nullptr);
  auto& two = dynamic_cast<adapters::postgres::PostgresRepository&>(*two_repo);
  REQUIRE(two.join({"two", "inc-2", "127.0.0.1:2", {}, 5s}));
  auto view = two.view();
  REQUIRE(view);
  std::vector<std::string> ids;
  for (const auto& i : view->instances) ids.push_back(i.id);
  CHECK(ids == std::vector<std::string>{"left-now", "one", "two"});  // "one" holds held-by-ghost
}

TEST_CASE("Postgres cluster: one live capture per device across instances - refused naming the holder",
          "[store][postgres][cluster]") {
  Store s = make_store("postgres");
  auto& one = dynamic_cast<adapters::postgres::PostgresRepository&>(*s.repo);
  auto two_repo = s.open_again(nullptr);
  auto& two = dynamic_cast<adapters::postgres::PostgresRepository&>(*two_repo);
  REQUIRE(one.join({"one", "inc-1", "127.0.0.1:1", {"cam"}, 5s}));
  REQUIRE(two.join({"two", "inc-2", "127.0.0.1:2", {"cam"}, 5s}));
  core::Recording first = rich_recording("cap-1", 1);
  first.kind = core::SourceKind::capture;
  first.state = core::State::recording;
  first.meta.device = "cam";
  first.lease = {"one", 1};
  REQUIRE(one.save(first, {}, {}));

  core::Recording second = first;
  second.id = "cap-2";
  second.lease = {"two", 1};
  auto refused = two.save(second, {}, {});
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == core::Errc::device_busy);
  CHECK(refused.error().message == "device 'cam' is already recording (session cap-1, on instance 'one')");
  CHECK(refused.error().related_id == "cap-1");
  CHECK_FALSE(*two.find("cap-2"));
  // A stream or an agent with that name as its device is another matter.
  core::Recording stream = rich_recording("not-a-capture", 2);
  stream.meta.device = "cam";
  stream.lease = {"two", 1};
  REQUIRE(two.save(stream, {}, {}));

  // Once the first has ended, the device is free for the other instance.
  first.state = core::State::ready;
  REQUIRE(one.save(first, {}, {}));
  REQUIRE(two.save(second, {}, {}));
  // The first one's own later saves are not refused by its own row.
  second.error = "written again";
  REQUIRE(two.save(second, {}, {}));
}
