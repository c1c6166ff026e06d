#include <catch2/catch.hpp>

#include "recorder/core/app/config.hpp"

using namespace recorder::core;
using namespace std::chrono_literals;

namespace {

Result<Config> build(std::initializer_list<std::pair<std::string_view, std::string_view>> values) {
  ConfigBuilder b;
  for (const auto& [k, v] : values) {
    if (auto r = b.set(k, v, "test"); !r) return std::unexpected(r.error());
  }
  return b.build();
}

std::string error_of(std::initializer_list<std::pair<std::string_view, std::string_view>> values) {
  auto c = build(values);
  REQUIRE_FALSE(c);
  CHECK(c.error().code == Errc::invalid_argument);
  return c.error().message;
}

}  // namespace

TEST_CASE("the defaults are the seeds'", "[config]") {
  auto c = build({});
  REQUIRE(c);
  CHECK(c->listen_host == "127.0.0.1");
  CHECK(c->listen_port == 8080);
  CHECK(c->store == StoreBackend::sqlite);
  CHECK(c->rules.hard_limit == 10800s);
  CHECK(c->rules.stale_after == 60s);
  CHECK(c->rules.premature_threshold == 60s);
  CHECK(c->rules.grace == 5s);
  CHECK(c->rules.rotation == 30min);
  CHECK(c->rules.start_retry.max_attempts == 3);
  CHECK(c->action_limits.max_duration == 3600s);
  CHECK(c->action_limits.max_chunk_bytes == 1024 * 1024);
  CHECK(c->action_limits.max_total_bytes == 500ull * 1024 * 1024);
  CHECK(c->storage.warn_percent == 80);
  CHECK(c->storage.block_percent == 90);
}

TEST_CASE("values are parsed and applied", "[config]") {
  auto c = build({{"server.listen", "[::1]:9000"},
                  {"storage.warn_percent", "70"},
                  {"storage.block_percent", "95.5"},
                  {"capture.rotation_minutes", "1440"},
                  {"limits.grace_seconds", "10"}});
  REQUIRE(c);
  CHECK(c->listen_host == "::1");
  CHECK(c->listen_port == 9000);
  CHECK(c->storage.warn_percent == 70);
  CHECK(c->storage.block_percent == 95.5);
  CHECK(c->rules.rotation == 1440min);
  CHECK(c->rules.grace == 10s);
}

TEST_CASE("a finer rotation for tests overrides the minutes", "[config]") {
  auto c = build({{"capture.rotation_seconds", "3"}});
  REQUIRE(c);
  CHECK(c->rules.rotation == 3s);
}

TEST_CASE("seed 003's rules: warn below block - rotation 1..1440 - thresholds positive", "[config][seed003]") {
  CHECK(error_of({{"storage.warn_percent", "90"}}) ==
        "storage.warn_percent (90) must be less than storage.block_percent (90)");
  CHECK(error_of({{"storage.warn_percent", "95"}, {"storage.block_percent", "91"}}).find("storage.warn_percent") == 0);
  CHECK(error_of({{"capture.rotation_minutes", "0"}}).find("capture.rotation_minutes = '0'") == 0);
  CHECK(error_of({{"capture.rotation_minutes", "1441"}}).find("from 1 to 1440") != std::string::npos);
  CHECK(error_of({{"limits.stale_seconds", "0"}}).find("limits.stale_seconds") == 0);
  CHECK(error_of({{"limits.hard_limit_seconds", "-5"}}).find("limits.hard_limit_seconds") == 0);
  CHECK(error_of({{"storage.block_percent", "100"}}).find("storage.block_percent") == 0);
}

TEST_CASE("a bad value names the key - the value and where it came from", "[config]") {
  ConfigBuilder b;
  auto r = b.set("storage.warn_percent", "lots", "environment RECORDER_STORAGE_WARN_PERCENT");
  REQUIRE_FALSE(r);
  CHECK(r.error().message ==
        "storage.warn_percent = 'lots': expected a number from 1 to 99 (from environment "
        "RECORDER_STORAGE_WARN_PERCENT)");
  CHECK(error_of({{"server.listen", "8080"}}).find("expected host:port") != std::string::npos);
  CHECK(error_of({{"store.backend", "mysql"}}) == "store.backend = 'mysql': expected sqlite or postgres (from test)");
  CHECK(error_of({{"store.backend", "postgres"}}) == "store.postgres_url must be set when store.backend is postgres");
  CHECK(error_of({{"limits.grace_seconds", "5s"}}).find("limits.grace_seconds = '5s'") == 0);
}

TEST_CASE("an unknown key is an error - not ignored", "[config]") {
  CHECK(error_of({{"storage.warn_precent", "80"}}) == "unknown configuration key 'storage.warn_precent' (from test)");
}

TEST_CASE("environment names follow the keys - seed 003's names are known", "[config]") {
  CHECK(env_name("storage.warn_percent") == "RECORDER_STORAGE_WARN_PERCENT");
  CHECK(env_name("server.listen") == "RECORDER_SERVER_LISTEN");
  bool has_rotation = false;
  for (const auto& l : legacy_env()) has_rotation |= l.variable == "RECORDING_ROTATION_MINUTES";
  CHECK(has_rotation);
}

TEST_CASE("every key's default reads back and sets itself", "[config]") {
  const Config defaults;
  for (const ConfigKey& key : config_keys()) {
    INFO(key.name);
    ConfigBuilder b;
    CHECK(b.set(key.name, key.get(defaults), "default"));
    CHECK_FALSE(key.description.empty());
  }
}

TEST_CASE("capture.allowed_urls: patterns with a scheme - a URL matches by glob - quotes and spaces never do",
          "[core][config]") {
  ConfigBuilder b;
  REQUIRE(b.set("capture.allowed_urls", "rtsp://10.0.0.*/*;https://cams.example.com/live/*", "test"));
  auto c = b.build();
  REQUIRE(c);
  REQUIRE(c->allowed_urls.size() == 2);
  CHECK(url_allowed(c->allowed_urls, "rtsp://10.0.0.7/stream1"));
  CHECK(url_allowed(c->allowed_urls, "https://cams.example.com/live/a/b"));
  CHECK_FALSE(url_allowed(c->allowed_urls, "rtsp://10.0.1.7/stream1"));
  CHECK_FALSE(url_allowed(c->allowed_urls, "https://cams.example.com/admin"));
  CHECK_FALSE(url_allowed(c->allowed_urls, "rtsp://10.0.0.7/a b"));
  CHECK_FALSE(url_allowed(c->allowed_urls, "rtsp://10.0.0.7/a\"!filesink"));
  CHECK_FALSE(url_allowed(c->allowed_urls, "rtsp://10.0.0.7/a\\b"));
  CHECK_FALSE(url_allowed({}, "rtsp://10.0.0.7/x"));
  CHECK(url_allowed(std::vector<std::string>{"*://*"}, "srt://x"));
  CHECK_FALSE(url_allowed(std::vector<std::string>{"*"}, "not a url"));
  for (const char* bad : {"10.0.0.*", "*://x", "://x"}) {
    ConfigBuilder bb;
    auto r = bb.set("capture.allowed_urls", bad, "test");
    INFO(bad);
    REQUIRE_FALSE(r);  // refused as it is set
    CHECK_THAT(r.error().message, Catch::Contains("capture.allowed_urls"));
  }
}

TEST_CASE("webhook endpoints: fields - defaults - and errors that name the field", "[config][webhook]") {
  using Fields = std::vector<std::pair<std::string, std::string>>;
  ConfigBuilder b;
  REQUIRE(b.add_webhook(Fields{{"url", "https://hooks.example/a"}, {"secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}},
                        "file 'x' line 3"));
  REQUIRE(b.add_webhook(Fields{{"name", "billing"},
                               {"url", "http://127.0.0.1:9000/hook"},
                               {"secrets", "whsec_bmV3bmV3bmV3, whsec_b2xkb2xkb2xk"},
                               {"events", "recording.ready,recording.failed,alert.*"}},
                        "file 'x' line 8"));
  auto c = b.build();
  REQUIRE(c);
  REQUIRE(c->webhooks.size() == 2);
  CHECK(c->webhooks[0].name == "webhook-1");
  CHECK(c->webhooks[0].events.empty());
  CHECK(c->webhooks[1].secrets == std::vector<std::string>{"whsec_bmV3bmV3bmV3", "whsec_b2xkb2xkb2xk"});
  CHECK(c->webhooks[1].events == std::vector<std::string>{"recording.ready", "recording.failed", "alert.*"});
  CHECK(c->delivery.retry_delays.size() == 7);  // seed 004's schedule: 5 s ... 10 h
  CHECK(c->delivery.retry_delays.front() == 5s);
  CHECK(c->delivery.retry_delays.back() == 10h);
  CHECK(c->delivery.timeout == 15s);

  const auto refused = [](Fields f) {
    ConfigBuilder one;
    auto r = one.add_webhook(f, "file 'x' line 9");
    REQUIRE_FALSE(r);
    return r.error().message;
  };
  CHECK(refused({{"secret", "whsec_AAAA"}}) == "webhooks.url: required (from file 'x' line 9)");
  CHECK(refused({{"url", "ftp://x"}, {"secret", "whsec_AAAA"}}).starts_with("webhooks.url: 'ftp://x' is not an http"));
  CHECK(refused({{"url", "http://x"}}).starts_with("webhooks.secret: required"));
  CHECK(refused({{"url", "http://x"}, {"secret", "hunter2"}}).starts_with("webhooks.secret: expected whsec_"));
  CHECK(refused({{"url", "http://x"}, {"secret", "whsec_AAAA"}, {"events", "recording.redy"}})
            .starts_with("webhooks.events: 'recording.redy' is not an event type"));
  CHECK(refused({{"url", "http://x"}, {"secret", "whsec_AAAA"}, {"colour", "red"}})
            .starts_with("webhooks.colour: unknown field"));
  ConfigBuilder twice;
  REQUIRE(twice.add_webhook(Fields{{"name", "a"}, {"url", "http://x"}, {"secret", "whsec_AAAA"}}, "one"));
  auto again = twice.add_webhook(Fields{{"name", "a"}, {"url", "http://y"}, {"secret", "whsec_AAAA"}}, "two");
  REQUIRE_FALSE(again);
  CHECK(again.error().message == "webhooks.name: 'a' is used by another endpoint (from two)");
}

TEST_CASE("the retry schedule is a list of seconds", "[config][webhook]") {
  auto c = build({{"delivery.retry_seconds", "1, 2,30"}, {"delivery.timeout_seconds", "3"}});
  REQUIRE(c);
  CHECK(c->delivery.retry_delays == std::vector<Duration>{1s, 2s, 30s});
  CHECK(c->delivery.timeout == 3s);
  CHECK(error_of({{"delivery.retry_seconds", ""}}).starts_with("delivery.retry_seconds: give at least one delay"));
  CHECK(error_of({{"delivery.retry_seconds", "5,soon"}}).starts_with("delivery.retry_seconds = 'soon'"));
}

TEST_CASE("alert channels: seed 000's switches - what each channel needs - addresses checked", "[config][alerts]") {
  auto none = build({});
  REQUIRE(none);
  CHECK(none->alerts.enabled);
  CHECK(alert_channels(*none).empty());  // no channel configured: the log and webhooks only

  auto both = build({{"alerts.channels", "slack, email"},
                     {"alerts.slack_webhook_url", "https://hooks.slack.com/services/T/B/X"},
                     {"alerts.admin_emails", "ops@example.org"},
                     {"smtp.url", "smtp://mail.example.org:587"}});
  REQUIRE(both);
  const auto channels = alert_channels(*both);
  REQUIRE(channels.size() == 2);
  CHECK(channels[0].kind == ChannelKind::slack);
  CHECK(channels[0].events == std::vector<std::string>{"alert.warning", "alert.critical"});
  CHECK(channels[1].kind == ChannelKind::email);
  CHECK(channels[1].url == "smtp://mail.example.org:587");
  CHECK(subscriber_of(channels[1]) == "email");

  auto off = build({{"alerts.enabled", "false"}, {"alerts.channels", "slack"}});
  REQUIRE(off);
  CHECK(alert_channels(*off).empty());

  CHECK(error_of({{"alerts.channels", "pager"}}).starts_with("alerts.channels: 'pager' is not a channel"));
  CHECK(error_of({{"alerts.channels", "slack"}}) ==
        "alerts.slack_webhook_url must be an http(s):// URL when alerts.channels has slack");
  CHECK(error_of({{"alerts.channels", "email"}}) ==
        "smtp.url must be an smtp:// or smtps:// URL when alerts.channels has email");
  CHECK(error_of({{"alerts.admin_emails", "ops"}}).starts_with("alerts.admin_emails: 'ops' is not an e-mail address"));
  CHECK(error_of({{"alerts.slack_events", "alert.urgent"}}).starts_with("alerts.slack_events: 'alert.urgent'"));
  CHECK(error_of({{"smtp.starttls", "maybe"}}).starts_with("smtp.starttls = 'maybe'"));
}

TEST_CASE("socketio.cors_origins: origins or * - a path or a bare host is refused naming it", "[config]") {
  auto c = build({{"socketio.cors_origins", "https://app.example, http://localhost:3000,*"}});
  REQUIRE(c);
  CHECK(c->socketio_cors_origins == std::vector<std::string>{"https://app.example", "http://localhost:3000", "*"});
  CHECK(build({})->socketio_cors_origins.empty());
  CHECK(error_of({{"socketio.cors_origins", "https://app.example/page"}}) ==
        "socketio.cors_origins: 'https://app.example/page' is not an origin: expected scheme://host[:port] with no "
        "path, or * (from test)");
  CHECK(error_of({{"socketio.cors_origins", "app.example"}}).find("'app.example' is not an origin") != std::string::npos);
}
