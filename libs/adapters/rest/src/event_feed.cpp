// The dashboard's live feed: see event_feed.hpp and docs/protocol.md section 9.

#include "recorder/adapters/rest/event_feed.hpp"

#include <algorithm>
#include <unordered_set>
#include <utility>

#include <fmt/format.h>

#include "recorder/adapters/json/json.hpp"
#include "recorder/adapters/rest/rest_api.hpp"
#include "recorder/core/domain/time_text.hpp"
#include "views.hpp"

namespace recorder::adapters::rest {
namespace {

using json::put;
using json::put_null;
using views::Writer;

constexpr std::uint16_t kRefused = 4401;     // bad token, or none in time: sign in again
constexpr std::uint16_t kTryLater = 1013;    // the token could not be checked (store down): reconnect

std::string text_of(const rapidjson::StringBuffer& b) { return std::string(b.GetString(), b.GetSize()); }

// {"type": "error", "code", "message"}
std::string error_json(std::string_view code, const std::string& message) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  put(w, "type", "error");
  put(w, "code", code);
  put(w, "message", message);
  w.EndObject();
  return text_of(buffer);
}

// What changes in a live recording from one tick to the next, under REST's names: the page
// merges it into the copy it holds when the revision is newer.
void put_progress(Writer& w, const core::Recording& r, double elapsed) {
  w.StartObject();
  put(w, "id", r.id);
  put(w, "revision", r.revision);
  put(w, "state", core::to_string(r.state));
  put(w, "stop_reason", core::to_string(r.stop_reason));
  put(w, "outcome", core::to_string(r.outcome));
  put(w, "elapsed_seconds", elapsed);
  put(w, "bytes", r.ledger.total_bytes());
  put(w, "chunks", r.ledger.chunk_count());
  // A live stream's gaps: indices below the next expected one that never arrived.
  put(w, "missing", r.ledger.next_index() - std::min<std::uint64_t>(r.ledger.next_index(), r.ledger.chunk_count()));
  views::put_time(w, "last_activity_at", r.last_activity_at);
  views::put_time(w, "stopped_at", r.stopped_at);
  put(w, "current_file", r.current_file);
  views::put_text_or_null(w, "agent_status", r.agent.status);
  views::put_optional(w, "elapsed", r.agent.elapsed);
  views::put_optional(w, "remaining", r.agent.remaining);
  put(w, "error", r.error);
  w.EndObject();
}

std::string storage_json(const core::RecordingService& service) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  if (auto s = service.storage_status()) {
    views::put_storage(w, *s, service.storage_policy());
  } else {
    w.StartObject();
    put(w, "error", s.error().message);
    w.EndObject();
  }
  return text_of(buffer);
}

}  // namespace

EventFeed::EventFeed(EventFeedContext ctx) : ctx_(std::move(ctx)) {}

EventFeed::~EventFeed() { stop(); }

void EventFeed::start() {
  std::lock_guard lock(run_mutex_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void EventFeed::stop() {
  {
    std::lock_guard lock(run_mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::size_t EventFeed::watchers() const {
  std::lock_guard lock(mutex_);
  return joined_;
}

void EventFeed::run() {
  std::unique_lock lock(run_mutex_);
  while (!stopping_) {
    lock.unlock();
    tick();
    lock.lock();
    wake_.wait_for(lock, ctx_.tick, [this] { return stopping_; });
  }
}

void EventFeed::opened(std::weak_ptr<websocket::Outbox> watcher) {
  const auto* key = watcher.lock().get();
  if (!key) return;
  std::lock_guard lock(mutex_);
  watchers_[key] = Watcher{std::move(watcher), ctx_.clock.monotonic_now() + ctx_.sign_in_timeout, false, false};
}

void EventFeed::closed(const websocket::Outbox* watcher) {
  std::lock_guard lock(mutex_);
  auto it = watchers_.find(watcher);
  if (it == watchers_.end()) return;
  if (it->second.joined) --joined_;
  watchers_.erase(it);
}

void EventFeed::sign_in(const std::weak_ptr<websocket::Outbox>& watcher, const std::string& token) {
  auto link = watcher.lock();
  if (!link) return;
  auto who = ctx_.access.authenticate(token);
  if (!who) {
    link->send_text(error_json(core::to_string(who.error().code), who.error().message));
    link->close(who.error().message, who.error().code == core::Errc::unavailable ? kTryLater : kRefused);
    closed(link.get());
    return;
  }
  // What is read from the store or other threads is read before the lock; the live part of
  // the snapshot is read under it, so that no notice or tick can fall between the two.
  std::string alerts = "[";
  if (auto latest = ctx_.outbox.latest("alert.", ctx_.alerts)) {
    const core::WallTime expires = ctx_.clock.wall_now() + std::chrono::hours(24);
    for (std::size_t i = 0; i < latest->size(); ++i)
      alerts += (i ? "," : "") + event_json((*latest)[i], ctx_.links, expires);
  }
  alerts += "]";
  const std::string webhooks = who->role == core::Role::admin ? webhooks_json() : "[]";
  std::lock_guard lock(mutex_);
  auto it = watchers_.find(link.get());
  if (it == watchers_.end()) return;  // closed meanwhile
  link->send_text(snapshot(*who, alerts, webhooks));
  it->second.joined = true;
  it->second.admin = who->role == core::Role::admin;
  ++joined_;
}

std::string EventFeed::webhooks_json() const {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartArray();
  if (ctx_.webhooks)
    for (const auto& h : ctx_.webhooks()) views::put_webhook(w, h);
  w.EndArray();
  return text_of(buffer);
}

std::string EventFeed::snapshot(const core::ApiToken& who, const std::string& alerts, const std::string& webhooks) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  put(w, "type", "snapshot");
  put(w, "role", core::to_string(who.role));
  put(w, "token_name", who.name);
  put(w, "server_time", core::format_utc(ctx_.clock.wall_now()));
  put(w, "tick_ms", static_cast<std::uint64_t>(ctx_.tick.count()));
  w.Key("recordings");
  w.StartArray();
  const views::Signing none{};
  for (const core::Recording& r : ctx_.service.live()) views::put_recording(w, r, ctx_.service.elapsed_seconds(r), none);
  w.EndArray();
  w.Key("agents");
  views::put_agents(w, ctx_.agents ? ctx_.agents->agents() : std::vector<core::AgentInfo>{}, ctx_.service);
  w.Key("devices");
  views::put_devices(w, ctx_.devices, ctx_.service);
  w.Key("history");
  w.StartArray();
  for (const Point& p : history_) {
    w.StartArray();
    w.Int64(std::chrono::duration_cast<std::chrono::milliseconds>(p.at.time_since_epoch()).count());
    w.Uint64(p.active);
    w.Double(p.ingest_bps);
    w.EndArray();
  }
  w.EndArray();
  w.EndObject();
  // Spliced in as rendered: the storage is measured, alerts and webhooks were read before.
  std::string out = text_of(buffer);
  out.pop_back();
  out += fmt::format(R"(,"storage":{},"alerts":{},"webhooks":{}}})", storage_json(ctx_.service), alerts, webhooks);
  return out;
}

core::Result<void> EventFeed::deliver(const core::OutboxEntry& entry) {
  {
    std::lock_guard lock(mutex_);
    if (joined_ == 0) return core::ok();
  }
  const std::string text =
      fmt::format(R"({{"type":"notice","seq":{},"notice":{}}})", entry.seq,
                  event_json(entry, ctx_.links, ctx_.clock.wall_now() + std::chrono::hours(24)));
  std::lock_guard lock(mutex_);
  send_joined(text, text);
  return core::ok();
}

void EventFeed::send_joined(const std::string& text, const std::string& admin_text) {
  for (auto it = watchers_.begin(); it != watchers_.end();) {
    auto link = it->second.link.lock();
    if (!link) {
      if (it->second.joined) --joined_;
      it = watchers_.erase(it);
      continue;
    }
    if (it->second.joined) link->send_text(it->second.admin ? admin_text : text);
    ++it;
  }
}

void EventFeed::tick() {
  std::lock_guard tick_lock(tick_mutex_);
  const core::MonoTime now = ctx_.clock.monotonic_now();
  const core::WallTime wall = ctx_.clock.wall_now();
  const double seconds =
      last_tick_ == core::MonoTime{} ? 0 : std::chrono::duration<double>(now - last_tick_).count();
  last_tick_ = now;

  // Nobody watching: only the chart's point is kept (nothing is rendered).
  bool watching = false;
  bool admins = false;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [key, watcher] : watchers_) {
      watching = watching || watcher.joined;
      admins = admins || (watcher.joined && watcher.admin);
    }
  }

  // What changed since the last tick, and how many bytes came in meanwhile.
  const std::vector<core::Recording> live = ctx_.service.live();
  std::unordered_map<std::string, Seen> seen;
  seen.reserve(live.size());
  std::uint64_t ingested = 0;
  rapidjson::StringBuffer changed;
  Writer w(changed);
  w.StartArray();
  const views::Signing none{};
  for (const core::Recording& r : live) {
    const std::uint64_t bytes = r.ledger.total_bytes();
    auto before = seen_.find(r.id);
    if (before == seen_.end()) {
      ingested += bytes;
      if (watching) views::put_recording(w, r, ctx_.service.elapsed_seconds(r), none);
    } else {
      ingested += bytes - std::min(bytes, before->second.bytes);
      if (watching && before->second.revision != r.revision) put_progress(w, r, ctx_.service.elapsed_seconds(r));
    }
    seen.emplace(r.id, Seen{r.revision, bytes});
  }
  w.EndArray();
  rapidjson::StringBuffer gone;
  Writer g(gone);
  g.StartArray();
  for (const auto& [id, s] : seen_) {
    if (!seen.contains(id)) g.String(id.c_str(), static_cast<rapidjson::SizeType>(id.size()));
  }
  g.EndArray();
  seen_ = std::move(seen);
  const double bps = seconds > 0 ? static_cast<double>(ingested) / seconds : 0;

  // Agents and cameras go out when who is connected or what is busy changed, else every
  // 10 ticks (their ages and counts move with every report: with thousands of agents,
  // sending them each tick would dwarf the rest). The webhooks' health only to admins.
  std::string section_text;
  if (watching) {
    const std::vector<core::AgentInfo> agents = ctx_.agents ? ctx_.agents->agents() : std::vector<core::AgentInfo>{};
    std::string membership;
    for (const auto& a : agents) {
      const auto held = ctx_.service.live_on(a.agent_id);
      membership += fmt::format("{}\n{}\n", a.agent_id, held ? held->id : "");
    }
    for (const auto& d : ctx_.devices) membership += fmt::format("{}\n{}\n", d.name, ctx_.service.live_on(d.name) ? 1 : 0);
    if (membership != last_membership_ || ++ticks_since_sections_ >= 10) {
      rapidjson::StringBuffer sections;
      Writer s(sections);
      s.StartObject();
      s.Key("agents");
      views::put_agents(s, agents, ctx_.service);
      s.Key("devices");
      views::put_devices(s, ctx_.devices, ctx_.service);
      s.EndObject();
      section_text = text_of(sections);
      last_membership_ = std::move(membership);
      ticks_since_sections_ = 0;
    }
  } else {
    last_membership_.clear();  // the next watcher's first tick sends them
  }
  const std::string webhooks = admins ? webhooks_json() : std::string();

  std::lock_guard lock(mutex_);
  history_.push_back(Point{wall, live.size(), bps});
  while (history_.size() > ctx_.history_points) history_.pop_front();
  // Watchers that did not sign in in time are closed.
  for (auto& [key, watcher] : watchers_) {
    if (watcher.joined || now < watcher.deadline) continue;
    if (auto link = watcher.link.lock()) {
      link->send_text(error_json("unauthenticated", "sign in within the time allowed: send {\"type\": \"auth\", \"token\"}"));
      link->close("no sign-in", kRefused);
    }
    watcher.deadline = core::MonoTime::max();  // told once; closed() removes it
  }
  // Nothing was rendered; one who signed in meanwhile has a snapshot newer than this tick.
  if (joined_ == 0 || !watching) return;
  std::string text = fmt::format(R"({{"type":"tick","at":"{}","active":{},"ingest_bps":{},"storage":{},"recordings":{},"gone":{})",
                                 core::format_utc(wall), live.size(), bps, storage_json(ctx_.service),
                                 text_of(changed), text_of(gone));
  if (!section_text.empty()) {
    text += ",";
    text += std::string_view(section_text).substr(1, section_text.size() - 2);
  }
  std::string admin_text = text;
  if (!webhooks.empty()) admin_text += R"(,"webhooks":)" + webhooks;
  text += "}";
  admin_text += "}";
  send_joined(text, admin_text);
}

}  // namespace recorder::adapters::rest
