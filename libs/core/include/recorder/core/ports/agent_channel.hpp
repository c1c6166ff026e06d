#pragma once

#include "recorder/core/domain/error.hpp"
#include "recorder/core/domain/recording.hpp"
#include "recorder/core/domain/state_machine.hpp"

namespace recorder::core {

// Commands to remote recorder agents (seed 000's start_recording / stop_recording), and
// who is connected. Any thread; never blocks on the network.
class AgentChannel {
 public:
  virtual ~AgentChannel() = default;
  // Queues the command for the recording's agent and returns; Errc::agent_unavailable when
  // that agent is not connected.
  [[nodiscard]] virtual Result<void> send(const Recording& r, AgentCommandKind command) = 0;
  virtual bool connected(const std::string& agent_id) const = 0;
};

}  // namespace recorder::core
