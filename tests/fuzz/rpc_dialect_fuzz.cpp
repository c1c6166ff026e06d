// JSON-RPC 2.0 (/rpc, seed 003), single requests and batches, down to the core with one
// configured camera.
#include "dialect_fuzz.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  recorder::testing::Harness h;
  recorder::fuzz::Wire wire;
  std::vector<recorder::core::Device> devices{
      {"cam0", {recorder::core::DeviceSource::Type::test, ""}, "test"},
      {"door", {recorder::core::DeviceSource::Type::v4l2, "/dev/video0"}, "/dev/video0"}};
  auto session = recorder::adapters::websocket::make_rpc_session({h.service, wire, wire, devices});
  recorder::fuzz::converse(*session, data, size);
  return 0;
}
