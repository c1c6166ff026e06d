#pragma once

// HTTP for recorderd: the request table, the messages and one error shape. No socket code:
// the listener (websocket adapter) hands requests in and sends responses out, off its
// network thread. See docs/adr/0009-concurrency-and-outbox.md.

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "recorder/core/domain/error.hpp"

namespace recorder::adapters::http {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Request {
  std::string method;  // GET, HEAD, POST, ...
  std::string target;  // as received: path and query
  Headers headers;
  std::string body;
  // Filled by the router: the path's {parameters}, percent-decoded, and the query.
  std::map<std::string, std::string, std::less<>> params;
  std::vector<std::pair<std::string, std::string>> query;

  // The first header of that name (case-insensitive), or nothing.
  std::optional<std::string> header(std::string_view name) const;
  // The first query value of that name, or nothing.
  std::optional<std::string> query_value(std::string_view name) const;
  // The token it presents: "Authorization: Bearer <t>" (any case), else the access_token
  // query parameter (browsers cannot set headers on a WebSocket); empty when none.
  std::string presented_token() const;
};

// The token a WebSocket handshake presents, given its Authorization header and resource
// (path and query): as Request::presented_token().
std::string handshake_token(const std::string& authorization, const std::string& resource);

struct Response {
  int status = 200;
  Headers headers;
  std::string body;

  void set_header(std::string name, std::string value);
};

// The challenge every 401 carries (json_error and the router add it).
inline constexpr std::string_view kBearerChallenge = "Bearer realm=\"recorderd\"";

// {"error": {"code": ..., "message": ...}} with `status`; a 401 with WWW-Authenticate.
Response json_error(int status, std::string_view code, std::string_view message);
// A core error with its HTTP status (ADR 0002) and its code's name.
Response error_response(const core::Error& e);
Response text(int status, std::string body, std::string content_type = "text/plain; charset=utf-8");

// RFC 3986 percent-decoding; nothing for a malformed escape.
std::optional<std::string> percent_decode(std::string_view s, bool plus_is_space = false);
// a=1&b=x%20y -> {{"a","1"},{"b","x y"}}; an error names the malformed part.
core::Result<std::vector<std::pair<std::string, std::string>>> parse_query(std::string_view query);

// Matches "/ws/{session_id}" against "/ws/abc": the parameters, or nothing. The path is split
// at '/' first and each parameter then percent-decoded, so "%2F" puts a '/' in a parameter (a
// recording id may hold one); a route that turns a parameter into a file name checks it itself.
std::optional<std::map<std::string, std::string, std::less<>>> match_path(std::string_view pattern,
                                                                          std::string_view path);

// The request table: (method, path pattern) -> handler, like obs-websocket's. An unknown
// path is 404, a known path with another method 405 with Allow; a malformed path or query
// is 400; HEAD is answered by the GET handler without its body. Handlers run on a worker
// thread (they may block on the store or the disk) and return a Response.
class Router {
 public:
  using Handler = std::function<Response(const Request&)>;

  void add(std::string method, std::string pattern, Handler handler);
  Response handle(Request request) const;

 private:
  struct Route {
    std::string method;
    std::string pattern;
    Handler handler;
  };
  std::vector<Route> routes_;
};

}  // namespace recorder::adapters::http
