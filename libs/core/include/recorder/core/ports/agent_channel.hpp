#pragma once

#include "recorder/core/domain/error.hpp"
#include "recorder/core/domain/recording.hpp"
#include "recorder/core/domain/state_machine.hpp"

namespace recorder::core {

// Commands to remote recorder agents (seed 000's start_recording / stop_recording).
// Queues the message and returns; Errc::agent_unavailable when the agent is not connected.
class AgentChannel {
 public:
  virtual ~AgentChannel() = default;
  [[nodiscard]] virtual Result<void> send(const Recording& r, AgentCommandKind command) = 0;
};

}  // namespace recorder::core
