// The agent dialect (/ws/agent, seed 000) from text and binary frames to core commands:
// every agent message, its fields and times, on one agent's connection.
#include "dialect_fuzz.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  recorder::testing::Harness h;
  recorder::fuzz::Wire wire;
  recorder::adapters::websocket::AgentHub hub(h.clock);
  auto session = recorder::adapters::websocket::make_agent_session(
      {h.service, hub, wire, std::weak_ptr<recorder::adapters::websocket::Outbox>{}, "room-1", "fuzz", nullptr});
  recorder::fuzz::converse(*session, data, size);
  return 0;
}
