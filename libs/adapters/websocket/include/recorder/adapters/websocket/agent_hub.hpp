#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "recorder/core/ports/agent_channel.hpp"
#include "recorder/core/ports/clock.hpp"

namespace recorder::adapters::websocket {

// The registry of connected recorder agents (/ws/agent, seed 000) and the channel the core
// commands them through. One connection per agent_id: a newer connection for the same
// agent takes over, and the older one is told to close. Thread-safe; nothing here blocks on
// the network (sends are queued on the connection).
class AgentHub final : public core::AgentChannel {
 public:
  using Send = std::function<void(std::string text)>;     // queues a text frame
  using Close = std::function<void(std::string reason)>;  // closes the connection

  explicit AgentHub(const core::Clock& clock) : clock_(clock) {}

  // A connection for `agent_id` opened. Returns its ticket; `replaced` says whether an older
  // connection of the agent was open (it has been told to close).
  std::uint64_t attach(const std::string& agent_id, std::string remote, Send send, Close close, bool& replaced);
  // The connection with `ticket` closed. True when it was the agent's current one (the
  // agent is gone now); false when a newer connection had already taken over.
  bool detach(const std::string& agent_id, std::uint64_t ticket);
  // The agent's current connection received a message of `type`.
  void heard(const std::string& agent_id, std::uint64_t ticket, std::string_view type);
  core::WallTime now() const { return clock_.wall_now(); }

  // Port
  [[nodiscard]] core::Result<void> send(const core::Recording& r, core::AgentCommandKind command) override;
  bool connected(const std::string& agent_id) const override;
  std::vector<core::AgentInfo> agents() const override;

 private:
  struct Link {
    std::uint64_t ticket = 0;
    core::AgentInfo info;
    Send send;
    Close close;
  };
  const core::Clock& clock_;
  mutable std::mutex mutex_;
  std::map<std::string, Link, std::less<>> links_;
  std::uint64_t next_ticket_ = 1;
};

// A command as the agent receives it (docs/protocol.md section 3):
// {"type": "start_recording" | "stop_recording", "timestamp", "data": {...}}.
std::string agent_command_json(const core::Recording& r, core::AgentCommandKind command, core::WallTime now);

// Times as recorderd's agent messages carry them: ISO 8601 UTC with microseconds.
std::string agent_timestamp(core::WallTime t);

}  // namespace recorder::adapters::websocket
