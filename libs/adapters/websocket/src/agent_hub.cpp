#include "recorder/adapters/websocket/agent_hub.hpp"

#include <chrono>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include "recorder/adapters/json/json.hpp"

namespace recorder::adapters::websocket {

std::string agent_timestamp(core::WallTime t) {
  const auto us = std::chrono::floor<std::chrono::microseconds>(t);
  const auto s = std::chrono::floor<std::chrono::seconds>(us);
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:06}Z", s, (us - s).count());
}

std::string agent_command_json(const core::Recording& r, core::AgentCommandKind command, core::WallTime now) {
  rapidjson::StringBuffer buffer;
  json::Writer w(buffer);
  w.StartObject();
  json::put(w, "type", command == core::AgentCommandKind::start_recording ? "start_recording" : "stop_recording");
  json::put(w, "timestamp", agent_timestamp(now));
  w.Key("data");
  w.StartObject();
  json::put(w, "subject", r.meta.subject);
  json::put(w, "organizer", r.meta.organizer);
  json::put(w, "start_time", r.meta.start_time);
  if (command == core::AgentCommandKind::start_recording) {
    if (r.expected_duration) json::put(w, "duration_expected", static_cast<std::int64_t>(r.expected_duration->count()));
    else json::put_null(w, "duration_expected");
  } else {
    json::put(w, "reason", core::to_string(r.stop_reason == core::StopReason::none ? core::StopReason::manual
                                                                                 : r.stop_reason));
  }
  json::put(w, "recording_id", r.id);
  w.EndObject();
  w.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

std::uint64_t AgentHub::attach(const std::string& agent_id, std::string remote, Send send, Close close,
                               bool& replaced) {
  Close old_close;
  std::uint64_t ticket = 0;
  {
    std::lock_guard lock(mutex_);
    ticket = next_ticket_++;
    auto it = links_.find(agent_id);
    replaced = it != links_.end();
    if (replaced) old_close = std::move(it->second.close);
    Link& link = links_[agent_id];
    link.ticket = ticket;
    link.info = core::AgentInfo{agent_id, clock_.wall_now(), std::nullopt, "", 0, std::move(remote)};
    link.send = std::move(send);
    link.close = std::move(close);
  }
  if (old_close) old_close(fmt::format("agent {} connected again: this older connection is replaced", agent_id));
  return ticket;
}

bool AgentHub::detach(const std::string& agent_id, std::uint64_t ticket) {
  std::lock_guard lock(mutex_);
  auto it = links_.find(agent_id);
  if (it == links_.end() || it->second.ticket != ticket) return false;
  links_.erase(it);
  return true;
}

void AgentHub::heard(const std::string& agent_id, std::uint64_t ticket, std::string_view type) {
  std::lock_guard lock(mutex_);
  auto it = links_.find(agent_id);
  if (it == links_.end() || it->second.ticket != ticket) return;
  it->second.info.last_message_at = clock_.wall_now();
  it->second.info.last_message = std::string(type.substr(0, 64));
  ++it->second.info.messages;
}

core::Result<void> AgentHub::send(const core::Recording& r, core::AgentCommandKind command) {
  Send send;
  {
    std::lock_guard lock(mutex_);
    auto it = links_.find(r.meta.agent_id);
    if (it == links_.end())
      return core::fail(core::Errc::agent_unavailable, fmt::format("agent '{}' is not connected", r.meta.agent_id));
    send = it->second.send;
  }
  send(agent_command_json(r, command, clock_.wall_now()));
  return core::ok();
}

bool AgentHub::connected(const std::string& agent_id) const {
  std::lock_guard lock(mutex_);
  return links_.contains(agent_id);
}

std::vector<core::AgentInfo> AgentHub::agents() const {
  std::lock_guard lock(mutex_);
  std::vector<core::AgentInfo> out;
  out.reserve(links_.size());
  for (const auto& [id, link] : links_) out.push_back(link.info);
  return out;
}

}  // namespace recorder::adapters::websocket
