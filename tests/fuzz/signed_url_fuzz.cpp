// Signed media URL verification (the media route's first check): a request line's path and
// query as sent, before decoding. A URL that verifies must carry the signature sign() makes
// for its own path and expiry: anything else is a forgery the fuzzer found, and a path that
// could leave its directory once decoded must never verify.
#include <chrono>
#include <cstdlib>
#include <string>
#include <string_view>

#include "recorder/adapters/crypto/hmac_url_signer.hpp"

namespace {

using recorder::adapters::crypto::HmacUrlSigner;
using recorder::adapters::crypto::SigningKey;

const HmacUrlSigner& signer() {
  static const HmacUrlSigner s({SigningKey{"k2", std::string(32, 'n')}, SigningKey{"k1", std::string(32, 'o')}});
  return s;
}

}  // namespace

// Input: "<method>\n<path>\n<query>"; a query starting with '+' is a real signature of the
// path (exp from the next digits), so that the verification past the MAC runs too.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const auto a = in.find('\n');
  if (a == std::string_view::npos) return 0;
  const auto b = in.find('\n', a + 1);
  if (b == std::string_view::npos) return 0;
  const std::string_view method = in.substr(0, a);
  const std::string_view path = in.substr(a + 1, b - a - 1);
  std::string query(in.substr(b + 1));
  const recorder::core::WallTime now{std::chrono::seconds{1'800'000'000}};
  if (!query.empty() && query.front() == '+') {
    long long offset = 0;
    for (std::size_t i = 1; i < query.size() && i < 8 && query[i] >= '0' && query[i] <= '9'; ++i)
      offset = offset * 10 + (query[i] - '0');
    query = signer().sign(path, now + std::chrono::seconds{offset - 5000}) + query.substr(1);
  }
  if (!signer().verify(method, path, query, now)) return 0;
  // It verified: the query holds exp, kid and sig as sign() writes them for this path.
  const auto exp_at = query.find("exp=");
  if (exp_at == std::string::npos) std::abort();
  long long exp = 0;
  for (std::size_t i = exp_at + 4; i < query.size() && query[i] >= '0' && query[i] <= '9'; ++i) exp = exp * 10 + (query[i] - '0');
  const std::string genuine = signer().sign(path, recorder::core::WallTime{std::chrono::seconds{exp}});
  const std::string sig = genuine.substr(genuine.find("&sig="));
  const std::string sig_alt = HmacUrlSigner({SigningKey{"k1", std::string(32, 'o')}})
                                  .sign(path, recorder::core::WallTime{std::chrono::seconds{exp}});
  if (query.find(sig.substr(1)) == std::string::npos && query.find(sig_alt.substr(sig_alt.find("&sig=") + 1)) == std::string::npos)
    std::abort();  // a forgery
  if (path.find("..") != std::string_view::npos || path.find('\0') != std::string_view::npos) std::abort();
  if (method != "GET" && method != "HEAD") std::abort();
  return 0;
}
