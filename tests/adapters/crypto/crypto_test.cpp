// The Secrets port on OpenSSL, against published test vectors.

#include <catch2/catch.hpp>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>

#include "recorder/adapters/crypto/hmac_url_signer.hpp"
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

// ---- signed media URLs -----------------------------------------------------------------

namespace {

using recorder::adapters::crypto::HmacUrlSigner;
using recorder::adapters::crypto::SigningKey;
using recorder::core::Errc;
using recorder::core::WallTime;

const SigningKey kOld{"old", std::string(32, 'o')};
const SigningKey kNew{"new", std::string(32, 'n')};
const WallTime kNow{std::chrono::seconds{1'800'000'000}};

std::string query_of(const HmacUrlSigner& s, const std::string& path, WallTime exp) { return s.sign(path, exp); }

std::string replaced(std::string q, const std::string& key, const std::string& value) {
  const auto at = q.find(key + "=");
  const auto end = q.find('&', at);
  return q.replace(at, (end == std::string::npos ? q.size() : end) - at, key + "=" + value);
}

}  // namespace

TEST_CASE("a signed URL opens its path with GET and HEAD until it expires - and nothing else", "[crypto][signed]") {
  const HmacUrlSigner s({kNew, kOld});
  const std::string path = "/media/rec-1/original.webm";
  const auto q = query_of(s, path, kNow + std::chrono::hours{24});
  CHECK(q.starts_with("exp=1800086400&kid=new&sig="));
  CHECK(s.verify("GET", path, q, kNow));
  CHECK(s.verify("HEAD", path, q, kNow));
  CHECK(s.verify("GET", path, q + "&access_token=x", kNow));  // other parameters change nothing
  CHECK(s.verify("GET", path, q, kNow + std::chrono::hours{24} - std::chrono::seconds{1}));

  const auto refused = [&](std::string_view method, std::string_view p, std::string_view query, WallTime at,
                           std::string_view words) {
    INFO(method << " " << p << "?" << query);
    auto r = s.verify(method, p, query, at);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::forbidden);
    CHECK_THAT(r.error().message, Catch::Contains(std::string(words)));
  };
  refused("GET", path, q, kNow + std::chrono::hours{24}, "expired at 2027-01-16T08:00:00Z");
  refused("POST", path, q, kNow, "GET and HEAD only");
  refused("GET", "/media/rec-2/original.webm", q, kNow, "does not match");
  refused("GET", "/media/rec-1/Original.webm", q, kNow, "does not match");
  refused("GET", path, replaced(q, "exp", "1900000000"), kNow, "does not match");
  refused("GET", path, replaced(q, "kid", "old"), kNow, "does not match");
  refused("GET", path, replaced(q, "kid", "gone"), kNow, "does not have (kid 'gone')");
  refused("GET", path, replaced(q, "sig", "AAAA"), kNow, "does not match");
  refused("GET", path, replaced(q, "exp", "soon"), kNow, "not a time");
  refused("GET", path, "exp=1900000000", kNow, "not signed");
  refused("GET", path, "", kNow, "not signed");
  refused("GET", path, q + "&sig=x", kNow, "'sig' twice");
  for (const char* bad : {"/media/../x", "/media/a/..%2fx", "/media/a%2F..", "/media/a/x%00", "/media//x",
                          "/media/a\\x", "/media/%2e%2e/x", "media/a/x"}) {
    // Even with a signature made for that very path.
    refused("GET", bad, query_of(s, bad, kNow + std::chrono::hours{1}), kNow, "not one recorderd signs");
  }
}

TEST_CASE("keys rotate: a new key signs - the old one verifies until it is removed", "[crypto][signed]") {
  const std::string path = "/media/rec-1/recording.mp4";
  const auto old_query = HmacUrlSigner({kOld}).sign(path, kNow + std::chrono::hours{1});
  CHECK(HmacUrlSigner({kNew, kOld}).verify("GET", path, old_query, kNow));
  CHECK(HmacUrlSigner({kNew, kOld}).sign(path, kNow + std::chrono::hours{1}).find("kid=new") != std::string::npos);
  auto removed = HmacUrlSigner({kNew}).verify("GET", path, old_query, kNow);
  REQUIRE_FALSE(removed);
  CHECK_THAT(removed.error().message, Catch::Contains("kid 'old'"));
  // A URL without a kid is checked against every key.
  const auto no_kid = old_query.substr(0, old_query.find("&kid=")) + old_query.substr(old_query.find("&sig="));
  CHECK(HmacUrlSigner({kNew, kOld}).verify("GET", path, no_kid, kNow));
}

TEST_CASE("the media keys file is made once (0600) - read back - and a bad line is named", "[crypto][signed]") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("recorder-keys-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const auto file = dir / "media.keys";
  fs::remove(file);
  auto made = recorder::adapters::crypto::load_or_create_signing_keys(file);
  REQUIRE(made);
  REQUIRE(made->size() == 1);
  CHECK(made->front().secret.size() == 32);
  CHECK((fs::status(file).permissions() & fs::perms::all) == (fs::perms::owner_read | fs::perms::owner_write));
  auto again = recorder::adapters::crypto::load_or_create_signing_keys(file);
  REQUIRE(again);
  CHECK(again->front().kid == made->front().kid);
  CHECK(again->front().secret == made->front().secret);

  {
    std::ofstream out(file);
    out << "# rotated\n" << "k2 " << base64url(std::string(32, 'x')) << "\n\nk1 " << base64url(std::string(40, 'y')) << "\n";
  }
  auto rotated = recorder::adapters::crypto::load_or_create_signing_keys(file);
  REQUIRE(rotated);
  REQUIRE(rotated->size() == 2);
  CHECK(rotated->at(0).kid == "k2");
  CHECK(rotated->at(1).secret == std::string(40, 'y'));

  for (const std::string& bad : {std::string("k1\n"), "k1 " + base64url("short") + "\n", "bad/kid " + base64url(std::string(32, 'x')) + "\n",
                                 "k1 " + base64url(std::string(32, 'x')) + "\nk1 " + base64url(std::string(32, 'z')) + "\n",
                                 std::string("# only a comment\n")}) {
    INFO(bad);
    {
      std::ofstream out(file);
      out << bad;
    }
    auto r = recorder::adapters::crypto::load_or_create_signing_keys(file);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::invalid_argument);
    CHECK_THAT(r.error().message, Catch::Contains(file.string()));
  }
  fs::remove_all(dir);
}

TEST_CASE("base64url decodes what it encodes and refuses the rest", "[crypto]") {
  using recorder::adapters::crypto::base64url_decode;
  for (const std::string& s : std::vector<std::string>{"", "f", "fo", "foo", "foob", "fooba", "foobar", std::string("\xfb\xff\x00", 3)})
    CHECK(base64url_decode(base64url(s)) == s);
  CHECK_FALSE(base64url_decode("Zg=="));  // padding is not base64url here
  CHECK_FALSE(base64url_decode("Z"));
  CHECK_FALSE(base64url_decode("Zh"));  // stray bits
  CHECK_FALSE(base64url_decode("a+b/"));
}
