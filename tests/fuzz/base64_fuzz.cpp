// Base64 as the dialects decode chunk data: whatever is accepted decodes to as many bytes
// as its length says, and those bytes survive an encode and a decode unchanged.
#include <cstdlib>
#include <string>

#include <openssl/evp.h>

#include "dialect.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto decoded = recorder::adapters::websocket::decode_base64(text);
  if (!decoded) return 0;
  const std::size_t padding = text.empty() ? 0 : (text.back() == '=') + (text[text.size() - 2] == '=');
  if (decoded->size() != text.size() / 4 * 3 - padding) std::abort();
  std::string again(4 * ((decoded->size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(again.data()),
                                reinterpret_cast<const unsigned char*>(decoded->data()), static_cast<int>(decoded->size()));
  again.resize(static_cast<std::size_t>(n));
  if (recorder::adapters::websocket::decode_base64(again) != decoded) std::abort();
  return 0;
}
