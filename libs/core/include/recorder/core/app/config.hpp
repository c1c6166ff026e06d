#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "recorder/core/domain/device.hpp"
#include "recorder/core/domain/error.hpp"
#include "recorder/core/domain/recording.hpp"
#include "recorder/core/domain/rules.hpp"
#include "recorder/core/domain/storage_policy.hpp"
#include "recorder/core/domain/webhook.hpp"

namespace recorder::core {

enum class StoreBackend { sqlite, postgres };

// Alerts to people (seed 000's enable_alerts / alert_channels; seed 004's e-mails).
struct AlertSettings {
  bool enabled = true;
  std::vector<std::string> channels;  // "slack", "email"; none: the log and webhooks only
  std::string slack_webhook_url;
  std::vector<std::string> slack_events{"alert.warning", "alert.critical"};
  std::vector<std::string> email_events{"alert.critical", "recording.ready", "recording.failed"};
  std::vector<std::string> admin_emails;  // alerts and failed recordings are mailed here
  std::uint32_t repeat_minutes = 60;      // an identical alert is not sent again within this

  bool operator==(const AlertSettings&) const = default;
};

// The SMTP server e-mail goes through (libcurl).
struct SmtpSettings {
  std::string url;  // smtp://host[:port] (STARTTLS per starttls) or smtps://host[:port]
  std::string from = "recorderd@localhost";
  std::string username;
  std::string password;
  std::string starttls = "try";  // try, require or off

  bool operator==(const SmtpSettings&) const = default;
};

// Everything recorderd can be configured with. Defaults are the seeds'; every key is in
// docs/operations.md (a test keeps the two in step).
struct Config {
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 8080;
  std::string data_dir = "data";
  StoreBackend store = StoreBackend::sqlite;
  std::string postgres_url;
  // Several instances on one Postgres (docs/adr/0017-cluster-leases.md).
  std::string instance_id;              // cluster.instance_id; empty: <hostname>-<random> at each start
  std::uint32_t lease_seconds = 15;     // cluster.lease_seconds: a recording's lease, renewed every third
  std::string log_level = "info";
  std::uint32_t workers = 32;                          // threads that store chunks (they wait in fdatasync)
  std::uint64_t max_outgoing_bytes = 4 * 1024 * 1024;  // per connection, unsent: a client that stops reading is closed
  std::uint64_t max_pending_bytes = 32 * 1024 * 1024;  // per connection, received and not stored: reading pauses
  std::uint64_t max_connections = 0;  // open connections before newcomers get 503; 0: from the descriptor limit
  std::uint32_t socketio_ping_interval_ms = 25000;  // /socket.io/: Engine.IO's pingInterval
  std::uint32_t socketio_ping_timeout_ms = 20000;   // /socket.io/: Engine.IO's pingTimeout
  std::vector<std::string> socketio_cors_origins;  // /socket.io/ long-polling from these page origins ("*": any)
  std::string public_url;             // the base of every URL handed out; empty: the Host the client used
  std::string media_key_file;         // the media URL signing keys; empty: <data_dir>/media.keys
  std::uint32_t max_url_hours = 168;  // the longest a signed media URL may be asked to last
  bool ingest_needs_token = false;    // auth.ingest = token: the dialects need an operator token

  Rules rules;
  StreamLimits action_limits;  // /ws/{session_id} (seed 002)
  StreamLimits record_limits{Seconds{10800}, 16ull * 1024 * 1024, 64ull * 1024 * 1024 * 1024, 100000};  // /ws/record
  StoragePolicy storage;
  Seconds storage_check_interval{10};
  std::vector<Device> devices;                  // capture devices (capture.devices)
  std::vector<std::string> allowed_urls;        // URLs an admin may capture over REST (capture.allowed_urls)
  Seconds keyframe_interval{2};                 // capture key frames (rotation cuts on them)
  std::uint32_t rotation_minutes = 30;          // seed 003's RECORDING_ROTATION_MINUTES
  std::optional<std::uint32_t> rotation_seconds; // finer override, for tests
  std::vector<WebhookEndpoint> webhooks;        // [[webhooks]] tables of the config file
  DeliveryPolicy delivery;                      // how webhooks are retried (delivery.*)
  AlertSettings alerts;
  SmtpSettings smtp;
  std::string on_ready_command;                 // hooks.on_ready: a program run for each ready recording
  Seconds hook_timeout{300};                    // hooks.timeout_seconds
  std::vector<std::string> inbound_secrets;     // hooks.inbound_secret: POST /api/hooks/recordings; none: off
};

// The processing hook, when hooks.on_ready is set: a command channel for recording.ready.
std::optional<WebhookEndpoint> processing_hook(const Config& c);

// One webhook endpoint from {field, value} (name, url, secret or secrets, events; a list's
// items joined with ','), each field validated; the name may be left empty. The error
// names the field and `origin`. The config file's [[webhooks]] and POST /api/webhooks use it.
Result<WebhookEndpoint> parse_webhook_endpoint(std::span<const std::pair<std::string, std::string>> fields,
                                               std::string_view origin);

// The alert channels the configuration turns on, as endpoints (kind slack or email).
std::vector<WebhookEndpoint> alert_channels(const Config& c);

// One configuration key: its dotted name, what it means, and how to read and set it.
struct ConfigKey {
  std::string_view name;
  std::string_view description;
  std::function<Result<void>(Config&, std::string_view)> set;  // parses and range-checks
  std::function<std::string(const Config&)> get;
};

std::span<const ConfigKey> config_keys();

// The environment variable for a key: RECORDER_ + upper case, '.' -> '_'
// (storage.warn_percent -> RECORDER_STORAGE_WARN_PERCENT).
std::string env_name(std::string_view key);

// The reference table of every key (Markdown): docs/operations.md holds exactly this.
std::string config_reference_markdown();

// Seed 003's own variable names, read below the RECORDER_ ones: {variable, key}.
struct LegacyEnv {
  std::string_view variable;
  std::string_view key;
};
std::span<const LegacyEnv> legacy_env();

// Builds a Config from layered sources. Each set() names where the value came from, so
// that an error says which file, variable or flag to fix.
class ConfigBuilder {
 public:
  Result<void> set(std::string_view key, std::string_view value, std::string_view origin);
  // One [[webhooks]] table as {field, value} (a list's items joined with ','): name, url,
  // secret or secrets, events. The error names the field and `origin`.
  Result<void> add_webhook(std::span<const std::pair<std::string, std::string>> fields, std::string_view origin);
  // Cross-key rules (warn < block, ...), then the finished Config.
  Result<Config> build() const;

 private:
  Config config_;
};

// Checks the rules that involve more than one key. An error names the key to fix.
Result<void> validate(const Config& c);

}  // namespace recorder::core
