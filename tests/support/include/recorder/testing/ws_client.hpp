#pragma once

// A real WebSocket client for tests (websocketpp over loopback), with a blocking API.
// No websocketpp type appears here.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace recorder::testing {

struct WsMessage {
  bool text = true;
  std::string payload;
};

class WsClient {
 public:
  // Connects to ws://host:port/path with `headers` in the handshake; nothing (and `error`
  // says why, with the HTTP status of a refused handshake: "... (HTTP 401)") on failure.
  static std::unique_ptr<WsClient> connect(const std::string& url, std::string& error,
                                           std::chrono::milliseconds timeout = std::chrono::seconds(5),
                                           const std::vector<std::pair<std::string, std::string>>& headers = {});
  ~WsClient();
  WsClient(const WsClient&) = delete;
  WsClient& operator=(const WsClient&) = delete;

  void send_text(const std::string& text);
  void send_binary(const std::string& bytes);
  // The next message received, or nothing once `timeout` has passed.
  std::optional<WsMessage> next(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // The next text message containing `needle`; earlier messages are dropped.
  std::optional<std::string> next_containing(const std::string& needle,
                                             std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // A clean close (1000) and wait for the server's answer.
  void close();
  // Cuts the TCP connection with no close frame, as a closed tab or a lost network does.
  void drop();
  // Waits for the server to close; its close code, or nothing after the timeout.
  std::optional<int> wait_closed(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  std::string close_reason() const;

 private:
  struct Impl;
  explicit WsClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A blocking HTTP GET over loopback (libcurl). `range` is a Range header value or empty.
struct HttpResult {
  long status = 0;
  std::string body;
  std::string content_range;
  std::string error;
};
HttpResult http_get(const std::string& url, const std::string& range = "");

// Any request over loopback (libcurl): `headers` as "Name: value" lines; the answer's
// headers are kept in `headers`, lower-cased names, in order.
struct HttpAnswer {
  long status = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string error;
  // The first header of that (lower-case) name, or "".
  std::string header(const std::string& name) const;
};
HttpAnswer http_request(const std::string& method, const std::string& url, const std::vector<std::string>& headers = {},
                        const std::string& body = "");

}  // namespace recorder::testing
