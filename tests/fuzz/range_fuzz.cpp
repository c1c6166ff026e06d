// The Range header against a file size: what is accepted lies inside the file.
#include <cstdlib>
#include <cstring>
#include <string>

#include "recorder/adapters/http/media.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 8) return 0;
  std::uint64_t file_size = 0;
  std::memcpy(&file_size, data, 8);
  file_size %= 1ull << 50;
  const std::string header(reinterpret_cast<const char*>(data) + 8, size - 8);
  std::string error;
  const auto range = recorder::adapters::http::parse_range(header, file_size, error);
  if (range && !error.empty()) std::abort();
  if (range && (range->first > range->last || range->last >= file_size)) std::abort();
  return 0;
}
