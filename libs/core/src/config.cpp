#include "recorder/core/app/config.hpp"

#include "recorder/core/domain/state_machine.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <limits>

#include <fmt/format.h>

namespace recorder::core {
namespace {

Result<std::uint64_t> parse_uint(std::string_view key, std::string_view text, std::uint64_t min,
                                 std::uint64_t max) {
  std::uint64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc{} || ptr != end || value < min || value > max)
    return fail(Errc::invalid_argument,
                fmt::format("{} = '{}': expected a whole number from {} to {}", key, text, min, max));
  return value;
}

Result<double> parse_double(std::string_view key, std::string_view text, double min, double max) {
  double value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc{} || ptr != end || !(value >= min && value <= max))
    return fail(Errc::invalid_argument, fmt::format("{} = '{}': expected a number from {} to {}", key, text, min, max));
  return value;
}

// The items of a `sep`-separated list, trimmed of spaces; empty items are dropped.
std::vector<std::string> split(std::string_view text, char sep) {
  std::vector<std::string> out;
  while (!text.empty()) {
    const auto at = text.find(sep);
    std::string_view item = text.substr(0, at);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
    text = at == std::string_view::npos ? std::string_view{} : text.substr(at + 1);
  }
  return out;
}

constexpr std::uint64_t kDay = 86400;
constexpr std::uint64_t kMaxBytes = std::numeric_limits<std::int64_t>::max();

// `field` maps a Config (const or not) to the member the key sets.
template <typename Field>
ConfigKey number_key(std::string_view name, std::string_view description, std::uint64_t min, std::uint64_t max,
                     Field field) {
  return ConfigKey{
      name, description,
      [name, min, max, field](Config& c, std::string_view text) -> Result<void> {
        auto v = parse_uint(name, text, min, max);
        if (!v) return std::unexpected(v.error());
        field(c) = static_cast<std::remove_reference_t<decltype(field(c))>>(*v);
        return ok();
      },
      [field](const Config& c) { return fmt::format("{}", field(c)); }};
}

template <typename Field>
ConfigKey duration_key(std::string_view name, std::string_view description, std::uint64_t max, Field field) {
  return ConfigKey{name, description,
                   [name, max, field](Config& c, std::string_view text) -> Result<void> {
                     auto v = parse_uint(name, text, 1, max);
                     if (!v) return std::unexpected(v.error());
                     field(c) = std::chrono::duration_cast<std::remove_reference_t<decltype(field(c))>>(
                         Seconds{static_cast<Seconds::rep>(*v)});
                     return ok();
                   },
                   [field](const Config& c) {
                     return fmt::format(
                         "{}", std::chrono::duration_cast<Seconds>(field(c)).count());
                   }};
}

template <typename Field>
ConfigKey percent_key(std::string_view name, std::string_view description, Field field) {
  return ConfigKey{name, description,
                   [name, field](Config& c, std::string_view text) -> Result<void> {
                     auto v = parse_double(name, text, 1, 99);
                     if (!v) return std::unexpected(v.error());
                     field(c) = *v;
                     return ok();
                   },
                   [field](const Config& c) { return fmt::format("{}", field(c)); }};
}

Result<void> set_listen(Config& c, std::string_view text) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0)
    return fail(Errc::invalid_argument, fmt::format("server.listen = '{}': expected host:port, such as "
                                                    "127.0.0.1:8080",
                                                    text));
  auto port = parse_uint("server.listen (port)", text.substr(colon + 1), 0, 65535);
  if (!port) return std::unexpected(port.error());
  std::string_view host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  c.listen_host = std::string(host);
  c.listen_port = static_cast<std::uint16_t>(*port);
  return ok();
}

// A key that holds text as given.
template <typename Field>
ConfigKey text_key(std::string_view name, std::string_view description, Field field) {
  return ConfigKey{name, description,
                   [field](Config& c, std::string_view t) -> Result<void> {
                     field(c) = std::string(t);
                     return ok();
                   },
                   [field](const Config& c) { return field(c); }};
}

// A key that holds a comma-separated list; `check` vets each item.
template <typename Field, typename Check>
ConfigKey list_key(std::string_view name, std::string_view description, Field field, Check check) {
  return ConfigKey{name, description,
                   [name, field, check](Config& c, std::string_view t) -> Result<void> {
                     std::vector<std::string> items = split(t, ',');
                     for (const auto& item : items) {
                       if (auto r = check(item); !r)
                         return fail(Errc::invalid_argument, fmt::format("{}: {}", name, r.error().message));
                     }
                     field(c) = std::move(items);
                     return ok();
                   },
                   [field](const Config& c) {
                     std::string out;
                     for (const auto& item : field(c)) out += (out.empty() ? "" : ",") + item;
                     return out;
                   }};
}

bool valid_event(std::string_view e);
bool valid_secret(std::string_view s);

Result<void> event_check(std::string_view item) {
  if (valid_event(item)) return ok();
  return fail(Errc::invalid_argument,
              fmt::format("'{}' is not an event type (recording.ready, recording.*, alert.critical, storage.*, ...)", item));
}

Result<void> address_check(std::string_view item) {
  if (is_email_address(item)) return ok();
  return fail(Errc::invalid_argument, fmt::format("'{}' is not an e-mail address", item));
}

std::vector<ConfigKey> make_keys() {
  std::vector<ConfigKey> keys;
  keys.push_back({"server.listen", "address and port of the one HTTP and WebSocket listener",
                  set_listen,
                  [](const Config& c) {
                    return c.listen_host.find(':') != std::string::npos
                               ? fmt::format("[{}]:{}", c.listen_host, c.listen_port)
                               : fmt::format("{}:{}", c.listen_host, c.listen_port);
                  }});
  keys.push_back({"server.data_dir", "directory for the database file, chunks and finished media",
                  [](Config& c, std::string_view t) -> Result<void> {
                    if (t.empty()) return fail(Errc::invalid_argument, "server.data_dir: must not be empty");
                    c.data_dir = std::string(t);
                    return ok();
                  },
                  [](const Config& c) { return c.data_dir; }});
  keys.push_back({"store.backend", "sqlite (embedded, one file in the data directory) or postgres",
                  [](Config& c, std::string_view t) -> Result<void> {
                    if (t == "sqlite") c.store = StoreBackend::sqlite;
                    else if (t == "postgres") c.store = StoreBackend::postgres;
                    else
                      return fail(Errc::invalid_argument,
                                  fmt::format("store.backend = '{}': expected sqlite or postgres", t));
                    return ok();
                  },
                  [](const Config& c) { return std::string(c.store == StoreBackend::sqlite ? "sqlite" : "postgres"); }});
  keys.push_back({"store.postgres_url", "libpq connection string; required when store.backend is postgres",
                  [](Config& c, std::string_view t) -> Result<void> {
                    c.postgres_url = std::string(t);
                    return ok();
                  },
                  [](const Config& c) { return c.postgres_url; }});
  keys.push_back({"cluster.instance_id",
                  "this instance's name among several on one Postgres ([A-Za-z0-9._-], up to 64); empty: "
                  "<hostname>-<random> at each start",
                  [](Config& c, std::string_view t) -> Result<void> {
                    const bool fits = t.size() <= 64 && std::ranges::all_of(t, [](char ch) {
                                        return std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '_' ||
                                               ch == '-';
                                      });
                    if (!fits)
                      return fail(Errc::invalid_argument,
                                  fmt::format("cluster.instance_id = '{}': expected up to 64 of A-Z a-z 0-9 . _ -", t));
                    c.instance_id = std::string(t);
                    return ok();
                  },
                  [](const Config& c) { return c.instance_id; }});
  keys.push_back(number_key("cluster.lease_seconds",
                            "how long a recording's lease runs unrenewed (Postgres); renewed every third; a dead "
                            "instance's recordings are taken over after it",
                            3, 600, [](auto& c) -> auto& { return c.lease_seconds; }));
  keys.push_back({"log.level", "debug, info, warn or error",
                  [](Config& c, std::string_view t) -> Result<void> {
                    static constexpr std::array levels{"debug", "info", "warn", "error"};
                    if (std::ranges::find(levels, t) == levels.end())
                      return fail(Errc::invalid_argument,
                                  fmt::format("log.level = '{}': expected debug, info, warn or error", t));
                    c.log_level = std::string(t);
                    return ok();
                  },
                  [](const Config& c) { return c.log_level; }});

  keys.push_back(number_key("server.workers", "threads that store chunks; each waits in fdatasync in turn", 1, 1024,
                            [](auto& c) -> auto& { return c.workers; }));
  keys.push_back(number_key("server.max_outgoing_bytes",
                            "unsent bytes per connection before a client that does not read is closed", 65536,
                            kMaxBytes, [](auto& c) -> auto& { return c.max_outgoing_bytes; }));
  keys.push_back(number_key("server.max_pending_bytes",
                            "received but not yet stored bytes per connection before reading pauses", 65536, kMaxBytes,
                            [](auto& c) -> auto& { return c.max_pending_bytes; }));
  keys.push_back(number_key("server.max_connections",
                            "open HTTP and WebSocket connections before newcomers get 503 and are closed; 0: three "
                            "quarters of the file descriptor limit",
                            0, 10'000'000, [](auto& c) -> auto& { return c.max_connections; }));
  keys.push_back(number_key("socketio.ping_interval_ms",
                            "/socket.io/: how often the server pings a Socket.IO client (Engine.IO pingInterval)", 100,
                            600'000, [](auto& c) -> auto& { return c.socketio_ping_interval_ms; }));
  keys.push_back(number_key("socketio.ping_timeout_ms",
                            "/socket.io/: how long a ping may wait for its pong before the session ends and its "
                            "recordings enter grace (Engine.IO pingTimeout)",
                            100, 600'000, [](auto& c) -> auto& { return c.socketio_ping_timeout_ms; }));
  keys.push_back(list_key("socketio.cors_origins",
                          "/socket.io/: the origins of pages on other sites that may use long-polling "
                          "(https://app.example,http://localhost:3000), or * for any; empty: none (WebSocket needs "
                          "none)",
                          [](auto& c) -> auto& { return c.socketio_cors_origins; },
                          [](std::string_view item) -> Result<void> {
                            if (item == "*") return ok();
                            const bool scheme = item.starts_with("http://") || item.starts_with("https://");
                            const auto host = item.substr(item.find("//") == std::string_view::npos ? 0 : item.find("//") + 2);
                            if (!scheme || host.empty() || host.find_first_of("/?# \t") != std::string_view::npos)
                              return fail(Errc::invalid_argument,
                                          fmt::format("'{}' is not an origin: expected scheme://host[:port] with no "
                                                      "path, or *",
                                                      item));
                            return ok();
                          }));
  keys.push_back({"server.public_url",
                  "base of every URL recorderd hands out (http[s]://host[:port][/prefix]); empty: the Host header "
                  "the client used",
                  [](Config& c, std::string_view t) -> Result<void> {
                    const bool scheme = t.starts_with("http://") || t.starts_with("https://");
                    const auto rest = t.substr(t.find("//") == std::string_view::npos ? 0 : t.find("//") + 2);
                    if (!t.empty() && (!scheme || rest.empty() || rest.front() == '/' ||
                                       t.find_first_of("?# \t") != std::string_view::npos))
                      return fail(Errc::invalid_argument,
                                  fmt::format("server.public_url = '{}': expected http://host[:port][/prefix] or "
                                              "https://…, without a query",
                                              t));
                    c.public_url = std::string(t);
                    return ok();
                  },
                  [](const Config& c) { return c.public_url; }});
  keys.push_back({"auth.ingest",
                  "open (the seeds' clients work unchanged) or token: /ws/record, /ws/{session_id}, /rpc and /ws/agent "
                  "need an operator token, and /socket.io/ one in CONNECT's auth payload",
                  [](Config& c, std::string_view t) -> Result<void> {
                    if (t != "open" && t != "token")
                      return fail(Errc::invalid_argument, fmt::format("auth.ingest = '{}': expected open or token", t));
                    c.ingest_needs_token = t == "token";
                    return ok();
                  },
                  [](const Config& c) { return std::string(c.ingest_needs_token ? "token" : "open"); }});
  keys.push_back({"media.signing_key_file",
                  "file of the keys that sign media URLs (created with one key if absent); empty: media.keys in "
                  "the data directory",
                  [](Config& c, std::string_view t) -> Result<void> {
                    c.media_key_file = std::string(t);
                    return ok();
                  },
                  [](const Config& c) { return c.media_key_file; }});
  keys.push_back(number_key("media.max_url_hours", "the longest expiry_hours a signed media URL may be asked for",
                            1, 8760, [](auto& c) -> auto& { return c.max_url_hours; }));
  keys.push_back(duration_key("limits.hard_limit_seconds", "no recording runs longer (seed 000: 3 h)", 7 * kDay,
                              [](auto& c) -> auto& { return c.rules.hard_limit; }));
  keys.push_back(duration_key("limits.stale_seconds", "an agent recording with no status this long is stale",
                              kDay, [](auto& c) -> auto& { return c.rules.stale_after; }));
  keys.push_back(duration_key("limits.stale_give_up_seconds",
                              "a stale agent recording silent this much longer ends failed (reason stale)", 7 * kDay,
                              [](auto& c) -> auto& { return c.rules.stale_give_up; }));
  keys.push_back(duration_key("limits.premature_threshold_seconds",
                              "a manual stop this far short of the expected duration is stopped_early", kDay,
                              [](auto& c) -> auto& { return c.rules.premature_threshold; }));
  keys.push_back(duration_key("limits.grace_seconds", "how long a dropped stream client may take to resume",
                              kDay, [](auto& c) -> auto& { return c.rules.grace; }));
  keys.push_back(duration_key("limits.start_timeout_seconds", "how long a capture or agent may take to start",
                              kDay, [](auto& c) -> auto& { return c.rules.start_timeout; }));
  keys.push_back(duration_key("limits.stop_timeout_seconds", "how long a capture or agent may take to stop",
                              kDay, [](auto& c) -> auto& { return c.rules.stop_timeout; }));

  keys.push_back(duration_key("action.max_duration_seconds", "/ws/{session_id}: longest recording (seed 002: 1 h)",
                              7 * kDay, [](auto& c) -> auto& { return c.action_limits.max_duration; }));
  keys.push_back(number_key("action.max_chunk_bytes", "/ws/{session_id}: largest chunk (seed 002: 1 MiB)", 1,
                            kMaxBytes, [](auto& c) -> auto& { return c.action_limits.max_chunk_bytes; }));
  keys.push_back(number_key("action.max_total_bytes", "/ws/{session_id}: largest recording (seed 002: 500 MiB)",
                            1, kMaxBytes, [](auto& c) -> auto& { return c.action_limits.max_total_bytes; }));
  keys.push_back(duration_key("record.max_duration_seconds", "/ws/record: longest recording", 7 * kDay,
                              [](auto& c) -> auto& { return c.record_limits.max_duration; }));
  keys.push_back(number_key("record.max_chunk_bytes", "/ws/record: largest chunk", 1, kMaxBytes,
                            [](auto& c) -> auto& { return c.record_limits.max_chunk_bytes; }));
  keys.push_back(number_key("record.max_total_bytes", "/ws/record: largest recording", 1, kMaxBytes,
                            [](auto& c) -> auto& { return c.record_limits.max_total_bytes; }));
  keys.push_back(number_key("record.max_index_gap", "/ws/record: how far past the next index a chunk may jump",
                            1, 100'000'000, [](auto& c) -> auto& { return c.record_limits.max_index_gap; }));

  keys.push_back(percent_key("storage.warn_percent", "disk use that raises an alert and a flag (seed 003: 80)",
                             [](auto& c) -> auto& { return c.storage.warn_percent; }));
  keys.push_back(percent_key("storage.block_percent",
                             "disk use at which nothing new starts and running recordings stop (seed 003: 90)",
                             [](auto& c) -> auto& { return c.storage.block_percent; }));
  keys.push_back(duration_key("storage.check_interval_seconds", "how often disk use is measured", 3600,
                              [](auto& c) -> auto& { return c.storage_check_interval; }));

  keys.push_back({"capture.devices",
                  "capture devices as name=source;name=source (source: test, v4l2:/dev/videoN, a URI, or "
                  "pipeline:<gst-launch source>)",
                  [](Config& c, std::string_view t) -> Result<void> {
                    std::vector<Device> devices;
                    while (!t.empty()) {
                      const auto semi = t.find(';');
                      const std::string_view item = t.substr(0, semi);
                      const auto eq = item.find('=');
                      if (eq == std::string_view::npos || eq == 0 || eq + 1 == item.size())
                        return fail(Errc::invalid_argument,
                                    fmt::format("capture.devices: '{}' is not name=source", item));
                      std::string name(item.substr(0, eq));
                      if (std::ranges::any_of(devices, [&](const Device& d) { return d.name == name; }))
                        return fail(Errc::invalid_argument, fmt::format("capture.devices: '{}' appears twice", name));
                      const std::string_view text = item.substr(eq + 1);
                      auto source = parse_device_source(text);
                      if (!source)
                        return fail(Errc::invalid_argument,
                                    fmt::format("capture.devices: device '{}': {}", name, source.error().message));
                      devices.push_back(Device{std::move(name), std::move(*source), std::string(text)});
                      t = semi == std::string_view::npos ? std::string_view{} : t.substr(semi + 1);
                    }
                    c.devices = std::move(devices);
                    return ok();
                  },
                  [](const Config& c) {
                    std::string out;
                    for (const Device& d : c.devices) {
                      if (!out.empty()) out += ';';
                      out += d.name + "=" + d.source_text;
                    }
                    return out;
                  }});
  keys.push_back({"capture.allowed_urls",
                  "URL patterns an admin may capture over REST besides the devices, as p1;p2 ('*' is any "
                  "run of characters, e.g. rtsp://10.0.0.*/*); empty: none",
                  [](Config& c, std::string_view t) -> Result<void> {
                    std::vector<std::string> patterns;
                    while (!t.empty()) {
                      const auto semi = t.find(';');
                      const std::string_view item = t.substr(0, semi);
                      const auto scheme = item.find("://");
                      if (scheme == std::string_view::npos || scheme == 0 || item.substr(0, scheme).find('*') != std::string_view::npos)
                        return fail(Errc::invalid_argument,
                                    fmt::format("capture.allowed_urls: '{}' is not a URL pattern (scheme://..., the "
                                                "scheme written out)",
                                                item));
                      patterns.emplace_back(item);
                      t = semi == std::string_view::npos ? std::string_view{} : t.substr(semi + 1);
                    }
                    c.allowed_urls = std::move(patterns);
                    return ok();
                  },
                  [](const Config& c) {
                    std::string out;
                    for (const auto& p : c.allowed_urls) out += (out.empty() ? "" : ";") + p;
                    return out;
                  }});
  keys.push_back(duration_key("capture.keyframe_seconds", "key-frame interval of captures; segments cut on key frames",
                              60, [](auto& c) -> auto& { return c.keyframe_interval; }));
  keys.push_back(number_key("capture.rotation_minutes", "capture segment length (seed 003: 1 to 1440)", 1, 1440,
                            [](auto& c) -> auto& { return c.rotation_minutes; }));
  keys.push_back({"capture.rotation_seconds", "finer segment length for tests; overrides rotation_minutes",
                  [](Config& c, std::string_view t) -> Result<void> {
                    if (t.empty()) {
                      c.rotation_seconds.reset();
                      return ok();
                    }
                    auto v = parse_uint("capture.rotation_seconds", t, 1, 1440 * 60);
                    if (!v) return std::unexpected(v.error());
                    c.rotation_seconds = static_cast<std::uint32_t>(*v);
                    return ok();
                  },
                  [](const Config& c) { return c.rotation_seconds ? fmt::format("{}", *c.rotation_seconds) : ""; }});
  keys.push_back(number_key("capture.start_attempts", "tries to start a capture or agent before it fails", 1, 100,
                            [](auto& c) -> auto& { return c.rules.start_retry.max_attempts; }));
  keys.push_back(duration_key("capture.retry_initial_seconds", "delay after the first failed start", 3600,
                              [](auto& c) -> auto& { return c.rules.start_retry.initial_delay; }));
  keys.push_back(duration_key("capture.retry_max_seconds", "longest delay between start attempts", 3600,
                              [](auto& c) -> auto& { return c.rules.start_retry.max_delay; }));
  keys.push_back(ConfigKey{"capture.retry_multiplier", "each delay is the previous one times this",
                           [](Config& c, std::string_view t) -> Result<void> {
                             auto v = parse_double("capture.retry_multiplier", t, 1, 10);
                             if (!v) return std::unexpected(v.error());
                             c.rules.start_retry.multiplier = *v;
                             return ok();
                           },
                           [](const Config& c) { return fmt::format("{}", c.rules.start_retry.multiplier); }});
  keys.push_back({"delivery.retry_seconds",
                  "delays before each retry of a webhook delivery, in seconds, as d1,d2,...; after the last one "
                  "the delivery gives up (an alert)",
                  [](Config& c, std::string_view t) -> Result<void> {
                    std::vector<Duration> delays;
                    for (const auto& item : split(t, ',')) {
                      auto v = parse_uint("delivery.retry_seconds", item, 0, 7 * kDay);
                      if (!v) return std::unexpected(v.error());
                      delays.emplace_back(Seconds{static_cast<Seconds::rep>(*v)});
                    }
                    if (delays.empty())
                      return fail(Errc::invalid_argument, "delivery.retry_seconds: give at least one delay");
                    c.delivery.retry_delays = std::move(delays);
                    return ok();
                  },
                  [](const Config& c) {
                    std::string out;
                    for (const Duration d : c.delivery.retry_delays)
                      out += fmt::format("{}{}", out.empty() ? "" : ",",
                                         std::chrono::duration_cast<Seconds>(d).count());
                    return out;
                  }});
  keys.push_back(duration_key("delivery.timeout_seconds", "the longest one webhook request may take", 600,
                              [](auto& c) -> auto& { return c.delivery.timeout; }));
  keys.push_back(number_key("delivery.jitter_percent", "retry delays are spread by up to this much either way", 0,
                            50, [](auto& c) -> auto& { return c.delivery.jitter_percent; }));
  keys.push_back({"alerts.enabled", "send alerts to the channels in alerts.channels (seed 000: enable_alerts)",
                  [](Config& c, std::string_view t) -> Result<void> {
                    if (t != "true" && t != "false")
                      return fail(Errc::invalid_argument, fmt::format("alerts.enabled = '{}': expected true or false", t));
                    c.alerts.enabled = t == "true";
                    return ok();
                  },
                  [](const Config& c) { return std::string(c.alerts.enabled ? "true" : "false"); }});
  keys.push_back(list_key("alerts.channels", "where alerts go besides the log, as slack,email (seed 000: alert_channels)",
                          [](auto& c) -> auto& { return c.alerts.channels; },
                          [](std::string_view item) -> Result<void> {
                            if (item == "slack" || item == "email") return ok();
                            return fail(Errc::invalid_argument, fmt::format("'{}' is not a channel; expected slack or email", item));
                          }));
  keys.push_back(text_key("alerts.slack_webhook_url", "the Slack incoming webhook URL (https://hooks.slack.com/...)",
                          [](auto& c) -> auto& { return c.alerts.slack_webhook_url; }));
  keys.push_back(list_key("alerts.slack_events", "which notices go to Slack, as types or prefixes (alert.*)",
                          [](auto& c) -> auto& { return c.alerts.slack_events; }, event_check));
  keys.push_back(list_key("alerts.email_events",
                          "which notices are mailed: alerts to alerts.admin_emails, recording.ready to the organizer, "
                          "recording.failed to the admins",
                          [](auto& c) -> auto& { return c.alerts.email_events; }, event_check));
  keys.push_back(list_key("alerts.admin_emails", "addresses that get alerts and failed recordings by e-mail",
                          [](auto& c) -> auto& { return c.alerts.admin_emails; }, address_check));
  keys.push_back(number_key("alerts.repeat_minutes",
                            "an alert identical to one sent this recently (same recording, cause and text) is not "
                            "sent again",
                            0, 7 * 24 * 60, [](auto& c) -> auto& { return c.alerts.repeat_minutes; }));
  keys.push_back(text_key("smtp.url", "the SMTP server for e-mail: smtp://host[:port] or smtps://host[:port]",
                          [](auto& c) -> auto& { return c.smtp.url; }));
  keys.push_back(text_key("smtp.from", "the sender address of recorderd's e-mail",
                          [](auto& c) -> auto& { return c.smtp.from; }));
  keys.push_back(text_key("smtp.username", "SMTP login; empty: none", [](auto& c) -> auto& { return c.smtp.username; }));
  keys.push_back(text_key("smtp.password", "SMTP password (prefer the environment variable to the file)",
                          [](auto& c) -> auto& { return c.smtp.password; }));
  keys.push_back(text_key("hooks.on_ready",
                          "a program run for each ready recording (seed 002's processing hook): the notice as JSON "
                          "on its standard input, the recording's files as arguments; empty: none",
                          [](auto& c) -> auto& { return c.on_ready_command; }));
  keys.push_back(list_key("hooks.inbound_secret",
                          "the whsec_ secret inbound webhooks (POST /api/hooks/recordings) are signed with; s1,s2 while "
                          "rotating; empty: the route is off",
                          [](auto& c) -> auto& { return c.inbound_secrets; },
                          [](std::string_view item) -> Result<void> {
                            if (valid_secret(item)) return ok();
                            return fail(Errc::invalid_argument, "expected whsec_ followed by base64 (Standard Webhooks)");
                          }));
  keys.push_back(duration_key("hooks.timeout_seconds", "how long hooks.on_ready may run before it is killed", kDay,
                              [](auto& c) -> auto& { return c.hook_timeout; }));
  keys.push_back({"smtp.starttls", "try, require or off: STARTTLS on an smtp:// URL",
                  [](Config& c, std::string_view t) -> Result<void> {
                    if (t != "try" && t != "require" && t != "off")
                      return fail(Errc::invalid_argument,
                                  fmt::format("smtp.starttls = '{}': expected try, require or off", t));
                    c.smtp.starttls = std::string(t);
                    return ok();
                  },
                  [](const Config& c) { return c.smtp.starttls; }});
  return keys;
}

constexpr std::array kLegacy{
    LegacyEnv{"STORAGE_WARN_PERCENT", "storage.warn_percent"},
    LegacyEnv{"STORAGE_BLOCK_PERCENT", "storage.block_percent"},
    LegacyEnv{"RECORDING_ROTATION_MINUTES", "capture.rotation_minutes"},
};

}  // namespace

std::span<const ConfigKey> config_keys() {
  static const std::vector<ConfigKey> keys = make_keys();
  return keys;
}

std::span<const LegacyEnv> legacy_env() { return kLegacy; }

std::string config_reference_markdown() {
  const Config defaults;
  std::string out = "| key | environment | default | meaning |\n|---|---|---|---|\n";
  for (const ConfigKey& key : config_keys()) {
    const std::string value = key.get(defaults);
    out += fmt::format("| `{}` | `{}` | {} | {} |\n", key.name, env_name(key.name),
                       value.empty() ? "(unset)" : fmt::format("`{}`", value), key.description);
  }
  return out;
}

std::string env_name(std::string_view key) {
  std::string out = "RECORDER_";
  for (char ch : key) {
    out += ch == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  }
  return out;
}

Result<void> ConfigBuilder::set(std::string_view key, std::string_view value, std::string_view origin) {
  auto keys = config_keys();
  auto it = std::ranges::find_if(keys, [&](const ConfigKey& k) { return k.name == key; });
  if (it == keys.end())
    return fail(Errc::invalid_argument, fmt::format("unknown configuration key '{}' (from {})", key, origin));
  if (auto r = it->set(config_, value); !r)
    return fail(Errc::invalid_argument, fmt::format("{} (from {})", r.error().message, origin));
  return ok();
}

namespace {

// Every notice type an endpoint may name (docs/protocol.md section 7).
std::vector<std::string> notice_types() {
  std::vector<std::string> out;
  for (auto n = static_cast<int>(Notice::started); n <= static_cast<int>(Notice::deleted); ++n)
    out.emplace_back(to_string(static_cast<Notice>(n)));
  for (const char* t : {"storage.normal", "storage.warning", "storage.critical", "agent.connected",
                        "agent.disconnected", "alert.info", "alert.warning", "alert.critical"})
    out.emplace_back(t);
  return out;
}

bool valid_event(std::string_view e) {
  static const std::vector<std::string> types = notice_types();
  if (e == "*" || std::ranges::find(types, e) != types.end()) return true;
  if (!e.ends_with(".*")) return false;
  const std::string_view prefix = e.substr(0, e.size() - 1);  // "recording."
  return std::ranges::any_of(types, [&](const std::string& t) { return t.starts_with(prefix); });
}

// whsec_ and base64 (Standard Webhooks' secret format).
bool valid_secret(std::string_view s) {
  if (!s.starts_with("whsec_") || s.size() == 6) return false;
  return std::ranges::all_of(s.substr(6), [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) || ch == '+' || ch == '/' || ch == '=';
  });
}

}  // namespace

Result<WebhookEndpoint> parse_webhook_endpoint(std::span<const std::pair<std::string, std::string>> fields,
                                               std::string_view origin) {
  WebhookEndpoint e;
  const auto bad = [&](std::string_view field, std::string message) {
    return fail(Errc::invalid_argument, fmt::format("webhooks.{}: {} (from {})", field, message, origin));
  };
  for (const auto& [field, value] : fields) {
    if (field == "name") {
      if (value.empty() || !std::ranges::all_of(value, [](char ch) {
            return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' || ch == '.';
          }))
        return bad(field, fmt::format("'{}' is not a name (letters, digits, '-', '_', '.')", value));
      e.name = value;
    } else if (field == "url") {
      if (!value.starts_with("http://") && !value.starts_with("https://"))
        return bad(field, fmt::format("'{}' is not an http:// or https:// URL", value));
      e.url = value;
    } else if (field == "secret" || field == "secrets") {
      for (const auto& secret : split(value, ',')) {
        if (!valid_secret(secret))
          return bad(field, "expected whsec_ followed by base64 (Standard Webhooks' secret format)");
        e.secrets.push_back(secret);
      }
    } else if (field == "events") {
      for (const auto& event : split(value, ',')) {
        if (!valid_event(event))
          return bad(field, fmt::format("'{}' is not an event type (recording.ready, recording.*, alert.critical, "
                                        "storage.*, agent.connected, *, ...)",
                                        event));
        e.events.push_back(event);
      }
    } else {
      return bad(field, "unknown field (fields: name, url, secret, secrets, events)");
    }
  }
  if (e.url.empty()) return bad("url", "required");
  if (e.secrets.empty()) return bad("secret", "required (whsec_ followed by base64)");
  return e;
}

Result<void> ConfigBuilder::add_webhook(std::span<const std::pair<std::string, std::string>> fields,
                                        std::string_view origin) {
  auto parsed = parse_webhook_endpoint(fields, origin);
  if (!parsed) return std::unexpected(parsed.error());
  WebhookEndpoint e = std::move(*parsed);
  if (e.name.empty()) e.name = fmt::format("webhook-{}", config_.webhooks.size() + 1);
  if (std::ranges::any_of(config_.webhooks, [&](const WebhookEndpoint& w) { return w.name == e.name; }))
    return fail(Errc::invalid_argument,
                fmt::format("webhooks.name: '{}' is used by another endpoint (from {})", e.name, origin));
  config_.webhooks.push_back(std::move(e));
  return ok();
}

Result<Config> ConfigBuilder::build() const {
  Config c = config_;
  if (auto r = validate(c); !r) return std::unexpected(r.error());
  c.rules.rotation = c.rotation_seconds ? Duration{Seconds{*c.rotation_seconds}}
                                        : Duration{std::chrono::minutes{c.rotation_minutes}};
  return c;
}

std::vector<WebhookEndpoint> alert_channels(const Config& c) {
  std::vector<WebhookEndpoint> out;
  if (!c.alerts.enabled) return out;
  for (const auto& channel : c.alerts.channels) {
    if (channel == "slack")
      out.push_back(WebhookEndpoint{"slack", c.alerts.slack_webhook_url, {}, c.alerts.slack_events, ChannelKind::slack});
    if (channel == "email")
      out.push_back(WebhookEndpoint{"email", c.smtp.url, {}, c.alerts.email_events, ChannelKind::email});
  }
  return out;
}

std::optional<WebhookEndpoint> processing_hook(const Config& c) {
  if (c.on_ready_command.empty()) return std::nullopt;
  return WebhookEndpoint{"on_ready", c.on_ready_command, {}, {"recording.ready"}, ChannelKind::command};
}

Result<void> validate(const Config& c) {
  if (c.storage.warn_percent >= c.storage.block_percent)
    return fail(Errc::invalid_argument,
                fmt::format("storage.warn_percent ({}) must be less than storage.block_percent ({})",
                            c.storage.warn_percent, c.storage.block_percent));
  if (c.rotation_minutes < 1 || c.rotation_minutes > 1440)
    return fail(Errc::invalid_argument,
                fmt::format("capture.rotation_minutes ({}) must be between 1 and 1440", c.rotation_minutes));
  if (c.store == StoreBackend::postgres && c.postgres_url.empty())
    return fail(Errc::invalid_argument, "store.postgres_url must be set when store.backend is postgres");
  if (c.alerts.enabled) {
    const auto on = [&](std::string_view ch) { return std::ranges::find(c.alerts.channels, ch) != c.alerts.channels.end(); };
    if (on("slack") && !c.alerts.slack_webhook_url.starts_with("https://") &&
        !c.alerts.slack_webhook_url.starts_with("http://"))
      return fail(Errc::invalid_argument,
                  "alerts.slack_webhook_url must be an http(s):// URL when alerts.channels has slack");
    if (on("email") && !c.smtp.url.starts_with("smtp://") && !c.smtp.url.starts_with("smtps://"))
      return fail(Errc::invalid_argument, "smtp.url must be an smtp:// or smtps:// URL when alerts.channels has email");
    if (on("email") && !address_check(c.smtp.from))
      return fail(Errc::invalid_argument, fmt::format("smtp.from = '{}' is not an e-mail address", c.smtp.from));
  }
  if (!c.on_ready_command.empty() && !c.on_ready_command.starts_with("/"))
    return fail(Errc::invalid_argument,
                fmt::format("hooks.on_ready = '{}': give the program's absolute path (it is run without a shell)",
                            c.on_ready_command));
  if (c.rules.start_retry.initial_delay > c.rules.start_retry.max_delay)
    return fail(Errc::invalid_argument,
                "capture.retry_initial_seconds must not be greater than capture.retry_max_seconds");
  return ok();
}

}  // namespace recorder::core
