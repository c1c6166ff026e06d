#pragma once

// recctl's one way to reach recorderd: HTTP requests with a bearer token (libcurl).

#include <string>

namespace recctl {

struct Reply {
  long status = 0;     // 0: no answer (error says why)
  std::string body;
  std::string error;   // transport failure, in words
};

class HttpClient {
 public:
  HttpClient(std::string server, std::string token) : server_(std::move(server)), token_(std::move(token)) {
    while (!server_.empty() && server_.back() == '/') server_.pop_back();
  }
  // `path` starts with '/' and is already percent-encoded where it needs to be.
  Reply request(const std::string& method, const std::string& path, const std::string& body = "") const;
  const std::string& server() const { return server_; }

 private:
  std::string server_;
  std::string token_;
};

// RFC 3986 percent-encoding of one path segment or query value.
std::string encode(const std::string& s);

}  // namespace recctl
