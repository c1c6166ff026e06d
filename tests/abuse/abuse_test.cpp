// The abuse suite (issue 9): hostile input against the real recorderd binary while an
// honest client streams. Each case ends with the rig's checks: the daemon is alive and
// healthy, its RSS is bounded, and the honest client lost nothing and was not slowed past
// kHonestP99Ms. The offender gets a clear error (or a close), never a crash.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <optional>

#include "abuse_rig.hpp"

using namespace recorder::testing;
using namespace std::chrono_literals;

namespace {

const std::string kDeep = std::string(200000, '[') + std::string(200000, ']');

// The message's error text in each dialect's shape ("" when it is not an error).
std::string error_text(const std::string& message) {
  auto d = parse_json(message);
  if (!d.IsObject()) return "";
  if (d.HasMember("error") && d["error"].IsObject()) return d["error"]["message"].GetString();  // JSON-RPC
  if (d.HasMember("type") && std::string(d["type"].GetString()) == "error") return d["message"].GetString();
  if (d.HasMember("event") && d.HasMember("data") && d["data"].IsObject()) {
    const auto& data = d["data"];
    if (data.HasMember("message") && data["message"].IsString()) return data["message"].GetString();
    if (data.HasMember("error") && data["error"].IsString()) return data["error"].GetString();
  }
  return "";
}

// Sends `text` and expects an error whose text contains `words`.
void expect_error(WsClient& c, const std::string& text, const std::string& words) {
  INFO("sent " << text.substr(0, 120) << (text.size() > 120 ? "..." : "") << " (" << text.size() << " bytes)");
  c.send_text(text);
  auto reply = c.next(10s);
  REQUIRE(reply);
  INFO("got " << reply->payload.substr(0, 300));
  CHECK_THAT(error_text(reply->payload), Catch::Contains(words));
}

// A TCP connection to recorderd on loopback.
int connect_loopback(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  return fd;
}

// Sends all of `bytes`, or stops quietly when the server has closed.
void send_all(int fd, std::string_view bytes) {
  std::size_t off = 0;
  while (off < bytes.size()) {
    const auto n = ::send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return;
    off += static_cast<std::size_t>(n);
  }
}

// Whether the server has closed this connection (without waiting).
bool closed_by_peer(int fd) {
  char c = 0;
  const auto n = ::recv(fd, &c, 1, MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno == ECONNRESET);
}

// What the server sent on this connection so far (without waiting), and whether it has
// closed it.
struct PeerSaid {
  std::string bytes;
  bool closed = false;
};
PeerSaid peer_said(int fd) {
  PeerSaid out;
  char buf[4096];
  for (;;) {
    const auto n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      out.bytes.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    out.closed = n == 0 || errno == ECONNRESET;
    return out;
  }
}

// Raw bytes to the HTTP port (no client library tidies them up); the status code the
// daemon answered, 0 when it closed without answering.
int raw_http(int port, const std::string& request) {
  const int fd = connect_loopback(port);
  send_all(fd, request);  // the server may close before reading everything
  std::string reply;
  char buf[4096];
  pollfd p{fd, POLLIN, 0};
  while (reply.find("\r\n") == std::string::npos && ::poll(&p, 1, 10000) > 0) {
    const auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    reply.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  if (reply.rfind("HTTP/1.1 ", 0) != 0) return 0;
  return std::stoi(reply.substr(9, 3));
}

// A WebSocket client made of raw bytes, for frames no library would send.
class RawWs {
 public:
  RawWs(int port, const std::string& path) : fd_(connect_loopback(port)) {
    send("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
    while (buffer_.find("\r\n\r\n") == std::string::npos) REQUIRE(fill(5000));
    REQUIRE(buffer_.rfind("HTTP/1.1 101", 0) == 0);
    buffer_.erase(0, buffer_.find("\r\n\r\n") + 4);
  }
  ~RawWs() { ::close(fd_); }

  // A small kernel receive buffer: what the client does not read waits in the server.
  void small_receive_buffer() {
    const int size = 64 * 1024;
    REQUIRE(::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &size, sizeof size) == 0);
  }

  // One client frame (masked with a zero key, which leaves the payload as it is).
  void frame(bool fin, int opcode, std::string_view payload) {
    std::string f;
    f += static_cast<char>((fin ? 0x80 : 0) | opcode);
    if (payload.size() < 126) {
      f += static_cast<char>(0x80 | payload.size());
    } else if (payload.size() < 65536) {
      f += static_cast<char>(0x80 | 126);
      f += static_cast<char>(payload.size() >> 8);
      f += static_cast<char>(payload.size() & 0xff);
    } else {
      f += static_cast<char>(0x80 | 127);
      for (int shift = 56; shift >= 0; shift -= 8) f += static_cast<char>((payload.size() >> shift) & 0xff);
    }
    f += std::string(4, '\0');
    f += payload;
    send(f);
  }

  struct Frame {
    int opcode = -1;  // -1: the connection ended or the time ran out
    std::string payload;
  };
  Frame next(int timeout_ms = 10000) {
    for (;;) {
      if (buffer_.size() >= 2) {
        const unsigned b1 = static_cast<unsigned char>(buffer_[1]) & 0x7fu;
        std::size_t header = 2;
        std::uint64_t length = b1;
        if (b1 == 126) header = 4;
        if (b1 == 127) header = 10;
        if (buffer_.size() >= header) {
          if (b1 >= 126) {
            length = 0;
            for (std::size_t i = 2; i < header; ++i) length = (length << 8) | static_cast<unsigned char>(buffer_[i]);
          }
          if (buffer_.size() >= header + length) {
            Frame f{static_cast<unsigned char>(buffer_[0]) & 0x0f, buffer_.substr(header, length)};
            buffer_.erase(0, header + length);
            return f;
          }
        }
      }
      if (!fill(timeout_ms)) return {};
    }
  }
  // The close code the server sent, skipping other frames; nothing if it sent none.
  std::optional<int> close_code(int timeout_ms = 10000) {
    for (;;) {
      const Frame f = next(timeout_ms);
      if (f.opcode == -1) return std::nullopt;
      if (f.opcode == 8 && f.payload.size() >= 2)
        return (static_cast<unsigned char>(f.payload[0]) << 8) | static_cast<unsigned char>(f.payload[1]);
    }
  }
  // The next text frame, skipping pongs.
  std::string next_text(int timeout_ms = 10000) {
    for (;;) {
      const Frame f = next(timeout_ms);
      if (f.opcode == -1 || f.opcode == 8) return "";
      if (f.opcode == 1) return f.payload;
    }
  }
  void send(std::string_view bytes) { send_all(fd_, bytes); }

 private:
  bool fill(int timeout_ms) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) != 1) return false;
    char buf[65536];
    const auto n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) return false;
    buffer_.append(buf, static_cast<std::size_t>(n));
    return true;
  }

  int fd_;
  std::string buffer_;
};

}  // namespace

TEST_CASE("JSON nested 200000 deep gets each dialect's error and the connection stays usable",
          "[abuse][json]") {
  Rig rig;
  auto record = rig.connect("/ws/record");
  auto rpc = rig.connect("/rpc");
  auto action = rig.connect("/ws/abuse-session");
  for (int i = 0; i < 5; ++i) {
    expect_error(*record, kDeep, "nested deeper than 32 levels");
    expect_error(*rpc, kDeep, "nested deeper than 32 levels");
    expect_error(*action, kDeep, "nested deeper than 32 levels");
  }
  record->send_text(R"({"event":"start","data":{"recordId":"after-deep"}})");
  CHECK(record->next_containing("\"started\""));
  rpc->send_text(R"({"jsonrpc":"2.0","method":"ping","id":1})");
  CHECK(rpc->next_containing("pong"));
  action->send_text(R"({"action":"start","format":"wav"})");
  CHECK(action->next_containing("recording_started"));
  rig.finish();
}

TEST_CASE("wrong types - huge numbers - huge strings and duplicate keys get an error naming the field",
          "[abuse][json]") {
  Rig rig;
  auto c = rig.connect("/ws/record");
  expect_error(*c, R"({"event":null,"data":{}})", R"("event" is missing or not a string)");
  expect_error(*c, R"({"event":"start","data":[]})", R"(event 'start' needs a "data" object)");
  expect_error(*c, R"({"event":"start","data":{"recordId":5}})", "start needs data.recordId, a non-empty string");
  expect_error(*c, R"({"event":"start","event":"stop","data":{"recordId":"x"}})", R"(the key "event" appears twice)");
  expect_error(*c, R"({"event":"start","data":{"recordId":")" + std::string(1 << 20, 'r') + R"("}})",
               "a recording id is at most 200 bytes; this one has 1048576");
  c->send_text(R"({"event":"start","data":{"recordId":"typed"}})");
  REQUIRE(c->next_containing("\"started\""));
  for (const std::string index : {"-1", "\"3\"", "18446744073709551616", "0.5", "[]"})
    expect_error(*c, R"({"event":"chunk","data":{"recordId":"typed","index":)" + index + R"(,"data":"AAAA"}})",
                 "index must be a whole number of 0 or more");
  expect_error(*c, R"({"event":"chunk","data":{"recordId":"typed","index":1e400,"data":"AAAA"}})",
               "malformed JSON: Number too big");
  expect_error(*c, R"({"event":"chunk","data":{"recordId":"typed","data":7}})", "chunk needs data.data, a base64 string");
  expect_error(*c, R"({"event":"chunk","data":{"recordId":"typed","data":")" + std::string(4 << 20, '!') + R"("}})",
               "data.data is not valid base64");
  // Still usable, and what it was sent is what it holds.
  c->send_text(R"({"event":"chunk","data":{"recordId":"typed","index":0,"data":"aGVsbG8="}})");
  CHECK(c->next_containing("chunkAck"));

  auto rpc = rig.connect("/rpc");
  expect_error(*rpc, R"({"jsonrpc":"2.0","method":5,"id":1})", "Invalid Request");
  expect_error(*rpc, R"({"jsonrpc":"2.0","method":"get_camera_status","params":{"device":[]},"id":1})",
               "device (a string) is required");
  expect_error(*rpc, R"({"jsonrpc":"2.0","method":"ping","id":[[[1]]]})", "Invalid Request");
  std::string batch = "[";
  for (int i = 0; i < 5000; ++i) batch += std::string(i ? "," : "") + R"({"jsonrpc":"2.0","method":"ping","id":1})";
  expect_error(*rpc, batch + "]", "a batch holds at most 100 requests; this one has 5000");
  rig.finish();
}

TEST_CASE("HTTP: traversal - NUL - absurd ranges and huge requests never serve what they should not",
          "[abuse][http]") {
  Rig rig;
  // Something to aim at: the database sits one directory above the media root.
  for (const std::string path :
       {"/media/../recorderd.db", "/media/%2e%2e/recorderd.db", "/media/..%2frecorderd.db",
        "/media/recordings/..%2f..%2frecorderd.db", "/media/%2e%2e%2f%2e%2e/recorderd.db",
        "/media/recordings/x%00.webm", "/media/./recorderd.db", "/media//recorderd.db",
        "/media/recordings/%ff%fe", "/..%2f..%2fetc/passwd"}) {
    INFO(path);
    const int status = raw_http(rig.port, "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECK((status == 400 || status == 401 || status == 404));
  }
  // A file that exists, then ranges nobody can satisfy.
  auto c = rig.connect("/ws/record");
  c->send_text(R"({"event":"start","data":{"recordId":"ranged"}})");
  REQUIRE(c->next_containing("\"started\""));
  c->send_binary("0123456789");
  REQUIRE(c->next_containing("chunkAck"));
  c->send_text(R"({"event":"stop","data":{"recordId":"ranged"}})");
  auto ready = c->next_containing("recordingReady");
  REQUIRE(ready);
  const std::string url = parse_json(*ready)["data"]["downloadUrl"].GetString();
  const std::string path = url.substr(url.find("/media/"));
  for (const std::string& range : std::vector<std::string>{"bytes=99999999999999999999-", "bytes=5-2", "bytes=-0",
                                                           "bytes=10-", "bytes=" + std::string(100000, '1') + "-",
                                                           "bits=0-1", "bytes=0-1,2-3,4-5"}) {
    INFO(range.substr(0, 60));
    const int status = raw_http(rig.port, "GET " + path + " HTTP/1.1\r\nHost: x\r\nRange: " + range +
                                              "\r\nConnection: close\r\n\r\n");
    CHECK((status == 416 || status == 400 || status == 431));
  }
  CHECK(raw_http(rig.port, "GET " + path + " HTTP/1.1\r\nHost: x\r\nRange: bytes=2-4\r\nConnection: close\r\n\r\n") ==
        206);
  // A valid signature does not carry over to another path, however it is spelled.
  const std::string signature = path.substr(path.find('?'));
  for (const std::string other : {"/media/../recorderd.db", "/media/ranged/..%2f..%2frecorderd.db",
                                  "/media/ranged/%2e%2e%2f%2e%2e%2frecorderd.db", "/media/ranged/original.bin%00",
                                  "/media/%72anged/original.bin", "/media/ranged//original.bin"}) {
    INFO(other);
    const int status =
        raw_http(rig.port, "GET " + other + signature + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECK((status == 400 || status == 403 || status == 404));
  }
  // Very long URL and headers: refused, or answered with an error; never a crash.
  const int long_url = raw_http(rig.port, "GET /media/" + std::string(1 << 20, 'a') +
                                              " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  CHECK((long_url == 0 || long_url == 400 || long_url == 404 || long_url == 414 || long_url == 431));
  std::string headers = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 20000; ++i) headers += "X-Filler-" + std::to_string(i) + ": " + std::string(50, 'h') + "\r\n";
  const int many = raw_http(rig.port, headers + "Connection: close\r\n\r\n");
  CHECK((many == 0 || many == 400 || many == 413 || many == 431));
  rig.finish();
}

TEST_CASE("a connection flood past server.max_connections gets 503 - said once - served again when it goes",
          "[abuse][flood]") {
  // 256 descriptors: the cap is three quarters of them (192), so the flood never takes the
  // descriptors recordings need; every newcomer past it is answered 503 and closed.
  Rig rig({"/usr/bin/prlimit", "--nofile=256:256", "--"});  // util-linux, always installed
  CHECK(count_in_file(rig.log, "max_connections=192") == 1);
  std::vector<int> flood;
  for (int i = 0; i < 600; ++i) flood.push_back(connect_loopback(rig.port));
  REQUIRE(wait_for_text(rig.log, "the limit server.max_connections", 1, 10s));
  // A request made now is refused with 503 and a reason, not left hanging.
  const auto refused = http_get("http://127.0.0.1:" + std::to_string(rig.port) + "/healthz");
  CHECK(refused.status == 503);
  CHECK_THAT(refused.body, Catch::Contains("server.max_connections"));
  // The flood's connections past the cap were answered and closed at once.
  const auto until = std::chrono::steady_clock::now() + 10s;
  long answered = 0;
  std::vector<PeerSaid> said(flood.size());
  while (std::chrono::steady_clock::now() < until) {
    answered = 0;
    for (std::size_t i = 0; i < flood.size(); ++i) {
      auto now = peer_said(flood[i]);
      said[i].bytes += now.bytes;
      said[i].closed = said[i].closed || now.closed;
      if (said[i].closed && said[i].bytes.starts_with("HTTP/1.1 503 ")) ++answered;
    }
    if (answered >= 600 - 192 - 2) break;  // the honest client and this test's request hold two
    std::this_thread::sleep_for(100ms);
  }
  INFO(answered << " of the flood's 600 connections were answered 503 and closed");
  CHECK(answered >= 600 - 192 - 2);
  CHECK(answered <= 600 - 192 + 2);
  for (const int fd : flood) ::close(fd);
  // Served again once they are gone, and said so; descriptors never ran out.
  CHECK(wait_for_text(rig.log, "below server.max_connections", 1, 15s));
  CHECK(http_get("http://127.0.0.1:" + std::to_string(rig.port) + "/healthz").status == 200);
  CHECK(count_in_file(rig.log, "the limit server.max_connections") == 1);
  CHECK(count_in_file(rig.log, "cannot accept connections") == 0);
  rig.finish();
}

TEST_CASE("a connection flood past the file limit is refused - said once - and served again when it goes",
          "[abuse][flood]") {
  // 256 descriptors for recorderd, no connection cap below them, 600 connections: it runs
  // out, as it would if server.max_connections were set above the descriptor limit.
  Rig rig({"/usr/bin/prlimit", "--nofile=256:256", "--"}, {"--set", "server.max_connections=100000"});
  // Its files are open before the flood: a recording that starts while descriptors are
  // exhausted cannot open them (the cap in the case above is what prevents that).
  rig.honest->wait_first_ack();
  std::vector<int> flood;
  for (int i = 0; i < 600; ++i) flood.push_back(connect_loopback(rig.port));
  REQUIRE(wait_for_text(rig.log, "cannot accept connections", 1, 10s));
  // Not spinning on the failed accept (before the fix: one whole core).
  const double before = cpu_seconds(rig.pid);
  std::this_thread::sleep_for(2s);
  const double used = cpu_seconds(rig.pid) - before;
  INFO("recorderd used " << used << " CPU s in 2 s while out of descriptors");
  CHECK(used < 0.5);
  // Refused: newcomers it cannot serve are closed, not left hanging.
  const auto closed = std::ranges::count_if(flood, closed_by_peer);
  INFO(closed << " of the flood's connections were closed by recorderd");
  CHECK(closed > 0);
  for (const int fd : flood) ::close(fd);
  // Served again once they are gone, and said so.
  const bool healthy = [&] {
    const auto until = std::chrono::steady_clock::now() + 15s;
    while (std::chrono::steady_clock::now() < until) {
      if (http_get("http://127.0.0.1:" + std::to_string(rig.port) + "/healthz").status == 200) return true;
      std::this_thread::sleep_for(100ms);
    }
    return false;
  }();
  CHECK(healthy);
  CHECK(wait_for_text(rig.log, "accepting connections again", 1, 5s));
  CHECK(count_in_file(rig.log, "cannot accept connections") == 1);
  rig.finish();
}

TEST_CASE("hostile frames: 3000 one-byte fragments - invalid UTF-8 - reserved opcodes - a ping flood",
          "[abuse][frames]") {
  Rig rig;
  {
    // A valid start split into one-byte fragments is still one message.
    RawWs ws(rig.port, "/ws/record");
    const std::string start = R"({"event":"start","data":{"recordId":"fragmented"}})";
    std::string padded = start + std::string(3000 - start.size(), ' ');
    ws.frame(false, 1, padded.substr(0, 1));
    for (std::size_t i = 1; i + 1 < padded.size(); ++i) ws.frame(false, 0, padded.substr(i, 1));
    ws.frame(true, 0, padded.substr(padded.size() - 1));
    CHECK_THAT(ws.next_text(), Catch::Contains("\"started\""));
  }
  {
    RawWs ws(rig.port, "/ws/record");
    ws.frame(true, 1, "{\"event\":\"\xff\xfe\"}");
    CHECK(ws.close_code() == 1007);  // invalid UTF-8 in a text frame
  }
  for (const int opcode : {3, 7, 11, 15}) {
    INFO("opcode " << opcode);
    RawWs ws(rig.port, "/rpc");
    ws.frame(true, opcode, "x");
    CHECK(ws.close_code() == 1002);  // reserved opcode: protocol error
  }
  {
    // 20,000 pings of 125 bytes, none of the pongs read while they are sent.
    RawWs ws(rig.port, "/rpc");
    const std::string payload(125, 'p');
    for (int i = 0; i < 20000; ++i) ws.frame(true, 9, payload);
    // It still answers, after (or instead of) the pongs; or it closed the connection.
    ws.frame(true, 1, R"({"jsonrpc":"2.0","method":"ping","id":1})");
    const std::string reply = ws.next_text(20000);
    INFO("after the ping flood: " << reply.substr(0, 100));
    CHECK((reply.find("pong") != std::string::npos || reply.empty()));
  }
  rig.finish();
}

TEST_CASE("slowloris and silent connections are cut after the handshake timeout - an honest client is not",
          "[abuse][slow]") {
  Rig rig;
  std::vector<int> idle;
  for (int i = 0; i < 300; ++i) idle.push_back(connect_loopback(rig.port));  // open, never send
  std::vector<int> slow;
  for (int i = 0; i < 100; ++i) slow.push_back(connect_loopback(rig.port));  // a header byte a second
  const std::string request = "GET /ws/record HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n";
  const auto all_closed = [](const std::vector<int>& fds) { return std::ranges::all_of(fds, closed_by_peer); };
  const auto start = std::chrono::steady_clock::now();
  std::size_t sent = 0;
  bool cut = false;
  while (std::chrono::steady_clock::now() - start < 20s) {
    for (const int fd : slow) (void)::send(fd, request.data() + sent % request.size(), 1, MSG_NOSIGNAL);
    ++sent;
    std::this_thread::sleep_for(1s);
    if (all_closed(idle) && all_closed(slow)) {
      cut = true;
      break;
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  INFO("all 400 cut after " << seconds << " s");
  CHECK(cut);
  CHECK(seconds >= 4);  // websocketpp's open handshake timeout is 5 s
  for (const int fd : idle) ::close(fd);
  for (const int fd : slow) ::close(fd);
  rig.finish();
}

TEST_CASE("a client that never reads its replies is closed with 1008 once 4 MiB wait for it", "[abuse][slow]") {
  Rig rig;
  RawWs ws(rig.port, "/rpc");
  ws.small_receive_buffer();
  std::string batch = "[";
  for (int i = 0; i < 100; ++i) batch += std::string(i ? "," : "") + R"({"jsonrpc":"2.0","method":"ping","id":)" +
                                         std::to_string(1000000 + i) + "}";
  batch += "]";
  // About 4.7 KB of answers per batch: 4,500 batches ask for 21 MB nobody reads, more than
  // the 4 MiB limit and the kernel's buffers together. The batches themselves (29 MB) stay
  // under server.max_pending_bytes, so recorderd reads them all: a client still blocked in
  // send() when the server closes would have its unread bytes reset, close frame and all.
  for (int i = 0; i < 4500; ++i) ws.frame(true, 1, batch);
  // Not a byte read until recorderd has given up on this client; then its answers so far
  // and the close frame behind them.
  REQUIRE(wait_for_text(rig.log, "that does not read its messages", 1, 60s));
  CHECK(ws.close_code(30000) == 1008);
  CHECK(rss_kib(rig.pid) <= kRssBoundKib);
  rig.finish();
}
