#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "recorder/core/domain/error.hpp"
#include "recorder/core/domain/recording.hpp"
#include "recorder/core/domain/state_machine.hpp"

namespace recorder::core {

// A connected agent, as the registry knows it (GET /api/agents, recctl agents).
struct AgentInfo {
  std::string agent_id;
  WallTime connected_at{};
  std::optional<WallTime> last_message_at;
  std::string last_message;     // the type of its last message
  std::uint64_t messages = 0;   // received on this connection
  std::string remote;           // its address
};

// Commands to remote recorder agents (seed 000's start_recording / stop_recording), and
// who is connected. Any thread; never blocks on the network.
class AgentChannel {
 public:
  virtual ~AgentChannel() = default;
  // Queues the command for the recording's agent and returns; Errc::agent_unavailable when
  // that agent is not connected.
  [[nodiscard]] virtual Result<void> send(const Recording& r, AgentCommandKind command) = 0;
  virtual bool connected(const std::string& agent_id) const = 0;
  // Every connected agent, by agent_id.
  virtual std::vector<AgentInfo> agents() const { return {}; }
};

}  // namespace recorder::core
