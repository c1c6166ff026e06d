// The action dialect (/ws/{session_id}, seed 002) from text and binary frames to core commands.
#include "dialect_fuzz.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  recorder::testing::Harness h;
  recorder::fuzz::Wire wire;
  auto session = recorder::adapters::websocket::make_action_session({h.service, wire, wire, {}}, "fuzz-session");
  recorder::fuzz::converse(*session, data, size);
  return 0;
}
