#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "recorder/adapters/http/media.hpp"
#include "recorder/adapters/websocket/event_stream.hpp"
#include "recorder/core/app/access_service.hpp"
#include "recorder/core/app/recording_service.hpp"
#include "recorder/core/app/webhook_delivery.hpp"
#include "recorder/core/domain/device.hpp"
#include "recorder/core/ports/agent_channel.hpp"
#include "recorder/core/ports/clock.hpp"
#include "recorder/core/ports/notice_subscriber.hpp"
#include "recorder/core/ports/outbox.hpp"

namespace recorder::adapters::rest {

struct EventFeedContext {
  core::RecordingService& service;
  core::AccessService& access;
  core::OutboxStore& outbox;  // the latest alerts, for a snapshot
  const core::Clock& clock;
  const http::MediaLinks* links = nullptr;     // signed URLs in notices (none: no URLs)
  const core::AgentChannel* agents = nullptr;  // who is connected; none: nobody
  std::vector<core::Device> devices;           // the configured cameras
  std::function<std::vector<core::WebhookHealth>()> webhooks;  // endpoints' health; none: no endpoints
  std::chrono::milliseconds tick{1000};        // how often live progress is sent
  std::chrono::milliseconds sign_in_timeout{10000};
  std::size_t history_points = 3600;           // the chart's last hour, one point per tick
  std::size_t alerts = 50;                     // how many past alerts a snapshot carries
  // Its name as an outbox subscriber. Each instance of a cluster has its own
  // ("dashboard:<instance>"): every one delivers every notice to its own watchers.
  std::string subscriber = "dashboard";
};

// The dashboard's live feed behind /ws/events (docs/protocol.md section 9). A watcher signs
// in with a token of any role and is sent:
//   - a snapshot: every live recording as REST shows it, the storage, agents, cameras,
//     webhook endpoints' health, the latest alerts and the last hour of the chart;
//   - every notice of the outbox, as webhooks carry it (it is a durable subscriber named
//     "dashboard");
//   - a tick every `tick`: the live recordings that changed since the last tick (new ones
//     in full, the others as their progress), those that are no longer live, the storage
//     and the chart's new point.
// Each recording carries its revision: of two copies the higher is the newer. The snapshot
// is read from the service's live state, which is ahead of the outbox; a notice that
// arrives after it may be older, and the page keeps the newer copy.
//
// Sends go through each watcher's Outbox (queued to the network thread): a watcher that
// reads nothing is closed by the listener (server.max_outgoing_bytes). Thread-safe.
class EventFeed final : public websocket::EventStream, public core::NoticeSubscriber {
 public:
  explicit EventFeed(EventFeedContext ctx);
  ~EventFeed() override;
  EventFeed(const EventFeed&) = delete;
  EventFeed& operator=(const EventFeed&) = delete;

  // Its tick thread. stop() joins it; both are idempotent.
  void start();
  void stop();
  // Signed-in watchers now.
  std::size_t watchers() const;

  // websocket::EventStream
  void opened(std::weak_ptr<websocket::Outbox> watcher) override;
  void sign_in(const std::weak_ptr<websocket::Outbox>& watcher, const std::string& token) override;
  void closed(const websocket::Outbox* watcher) override;

  // core::NoticeSubscriber
  std::string_view name() const override { return ctx_.subscriber; }
  core::Result<void> deliver(const core::OutboxEntry& entry) override;

  // One tick now (the tick thread calls it; tests may too).
  void tick();

 private:
  struct Watcher {
    std::weak_ptr<websocket::Outbox> link;
    core::MonoTime deadline{};  // to sign in by
    bool joined = false;
    bool admin = false;  // sees the webhooks' health, as GET /api/webhooks does
  };
  struct Seen {
    std::uint64_t revision = 0;
    std::uint64_t bytes = 0;
  };
  struct Point {
    core::WallTime at;
    std::size_t active = 0;
    double ingest_bps = 0;
  };
  void run();
  // To every signed-in watcher: `admin_text` to admins, `text` to the others. mutex_ held.
  void send_joined(const std::string& text, const std::string& admin_text);
  std::string webhooks_json() const;  // every endpoint's health, as GET /api/webhooks
  std::string snapshot(const core::ApiToken& who, const std::string& alerts, const std::string& webhooks);

  EventFeedContext ctx_;
  mutable std::mutex mutex_;
  std::unordered_map<const websocket::Outbox*, Watcher> watchers_;
  std::size_t joined_ = 0;
  std::deque<Point> history_;

  // The tick's own state (tick() is called from one thread at a time).
  std::mutex tick_mutex_;
  std::unordered_map<std::string, Seen> seen_;
  core::MonoTime last_tick_{};
  std::string last_membership_;  // who is connected and what is busy, as last sent
  std::size_t ticks_since_sections_ = 0;

  std::mutex run_mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace recorder::adapters::rest
