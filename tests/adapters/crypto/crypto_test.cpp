// The Secrets port on OpenSSL, against published test vectors.

#include <catch2/catch.hpp>

#include <set>

#include "recorder/adapters/crypto/openssl_secrets.hpp"

using recorder::adapters::crypto::base64url;
using recorder::adapters::crypto::OpenSslSecrets;

TEST_CASE("SHA-256 matches FIPS 180-2's vectors - equal compares whole strings", "[crypto]") {
  OpenSslSecrets s;
  CHECK(s.hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(s.hash("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(s.equal("abc", "abc"));
  CHECK_FALSE(s.equal("abc", "abd"));
  CHECK_FALSE(s.equal("abc", "abcd"));
  CHECK_FALSE(s.equal("", "a"));
}

TEST_CASE("base64url follows RFC 4648's vectors without padding", "[crypto]") {
  CHECK(base64url("") == "");
  CHECK(base64url("f") == "Zg");
  CHECK(base64url("fo") == "Zm8");
  CHECK(base64url("foo") == "Zm9v");
  CHECK(base64url("foob") == "Zm9vYg");
  CHECK(base64url("fooba") == "Zm9vYmE");
  CHECK(base64url("foobar") == "Zm9vYmFy");
  CHECK(base64url("\xfb\xff") == "-_8");
}

TEST_CASE("random tokens have the asked length and do not repeat", "[crypto]") {
  OpenSslSecrets s;
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    auto t = s.random_base64url(32);
    CHECK(t.size() == 43);
    CHECK(t.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == std::string::npos);
    seen.insert(t);
  }
  CHECK(seen.size() == 1000);
  CHECK(s.random_base64url(9).size() == 12);
}
