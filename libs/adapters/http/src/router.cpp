#include "recorder/adapters/http/router.hpp"

#include <algorithm>
#include <charconv>
#include <set>

#include <fmt/format.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "recorder/core/app/error_mapping.hpp"

namespace recorder::adapters::http {
namespace {

bool iequal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::ranges::equal(a, b, [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::vector<std::string_view> segments(std::string_view path) {
  std::vector<std::string_view> out;
  if (path.empty() || path.front() != '/') return out;
  path.remove_prefix(1);
  for (;;) {
    const auto slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

}  // namespace

std::optional<std::string> Request::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (iequal(k, name)) return v;
  }
  return std::nullopt;
}

std::optional<std::string> Request::query_value(std::string_view name) const {
  for (const auto& [k, v] : query) {
    if (k == name) return v;
  }
  return std::nullopt;
}

std::string Request::presented_token() const {
  if (auto h = header("Authorization")) {
    std::string_view v(*h);
    constexpr std::string_view kScheme = "bearer ";
    if (v.size() >= kScheme.size() &&
        std::ranges::equal(v.substr(0, kScheme.size()), kScheme,
                           [](char a, char b) { return (a >= 'A' && a <= 'Z' ? a - 'A' + 'a' : a) == b; })) {
      v.remove_prefix(kScheme.size());
      while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
      while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
      return std::string(v);
    }
    return {};
  }
  return query_value("access_token").value_or("");
}

std::string handshake_token(const std::string& authorization, const std::string& resource) {
  Request r;
  r.target = resource;
  if (!authorization.empty()) r.headers.emplace_back("Authorization", authorization);
  if (const auto q = resource.find('?'); q != std::string::npos) {
    if (auto query = parse_query(std::string_view(resource).substr(q + 1))) r.query = std::move(*query);
  }
  return r.presented_token();
}

void Response::set_header(std::string name, std::string value) {
  for (auto& [k, v] : headers) {
    if (iequal(k, name)) {
      v = std::move(value);
      return;
    }
  }
  headers.emplace_back(std::move(name), std::move(value));
}

Response json_error(int status, std::string_view code, std::string_view message) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  w.StartObject();
  w.Key("error");
  w.StartObject();
  w.Key("code");
  w.String(code.data(), static_cast<rapidjson::SizeType>(code.size()));
  w.Key("message");
  w.String(message.data(), static_cast<rapidjson::SizeType>(message.size()));
  w.EndObject();
  w.EndObject();
  Response r{status, {{"Content-Type", "application/json"}}, std::string(buffer.GetString(), buffer.GetSize())};
  if (status == 401) r.set_header("WWW-Authenticate", std::string(kBearerChallenge));
  return r;
}

Response error_response(const core::Error& e) {
  return json_error(core::http_status(e.code), core::to_string(e.code), e.message);
}

Response text(int status, std::string body, std::string content_type) {
  return Response{status, {{"Content-Type", std::move(content_type)}}, std::move(body)};
}

std::optional<std::string> percent_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      unsigned v = 0;
      if (i + 3 > s.size()) return std::nullopt;
      auto [p, ec] = std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16);
      if (ec != std::errc{} || p != s.data() + i + 3) return std::nullopt;
      out += static_cast<char>(v);
      i += 2;
    } else if (s[i] == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

core::Result<std::vector<std::pair<std::string, std::string>>> parse_query(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (part.empty()) continue;
    const auto eq = part.find('=');
    auto key = percent_decode(part.substr(0, eq), true);
    auto value = percent_decode(eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1), true);
    if (!key || !value || key->empty())
      return core::fail(core::Errc::invalid_argument, fmt::format("malformed query parameter '{}'", part));
    out.emplace_back(std::move(*key), std::move(*value));
  }
  return out;
}

std::optional<std::map<std::string, std::string, std::less<>>> match_path(std::string_view pattern,
                                                                          std::string_view path) {
  const auto want = segments(pattern);
  const auto have = segments(path);
  if (want.empty() || want.size() != have.size()) return std::nullopt;
  std::map<std::string, std::string, std::less<>> params;
  for (std::size_t i = 0; i < want.size(); ++i) {
    const std::string_view w = want[i];
    if (w.size() > 2 && w.front() == '{' && w.back() == '}') {
      auto value = percent_decode(have[i]);
      if (!value || value->empty()) return std::nullopt;
      params.emplace(std::string(w.substr(1, w.size() - 2)), std::move(*value));
    } else if (w != have[i]) {
      return std::nullopt;
    }
  }
  return params;
}

void Router::add(std::string method, std::string pattern, Handler handler) {
  routes_.push_back(Route{std::move(method), std::move(pattern), std::move(handler)});
}

Response Router::handle(Request request) const {
  const std::string_view target = request.target;
  const auto q = target.find('?');
  const std::string_view path = target.substr(0, q);
  if (q != std::string_view::npos) {
    auto query = parse_query(target.substr(q + 1));
    if (!query) return error_response(query.error());
    request.query = std::move(*query);
  }
  const bool head = request.method == "HEAD";
  std::set<std::string> allowed;
  for (const Route& route : routes_) {
    auto params = match_path(route.pattern, path);
    if (!params) continue;
    allowed.insert(route.method);
    if (route.method != request.method && !(head && route.method == "GET")) continue;
    request.params = std::move(*params);
    Response response;
    try {
      response = route.handler(request);
      // Every 401, however a route built it, says how to authenticate (RFC 6750).
      if (response.status == 401 && !std::ranges::any_of(response.headers, [](const auto& h) {
            return iequal(h.first, "WWW-Authenticate");
          }))
        response.set_header("WWW-Authenticate", std::string(kBearerChallenge));
    } catch (const std::exception& e) {
      // A handler's bug is this request's 500, not the daemon's end.
      response = json_error(500, "internal", fmt::format("{} {} failed: {}", request.method, path, e.what()));
    }
    if (head) {
      bool has_length = false;
      for (const auto& [k, v] : response.headers) has_length |= iequal(k, "Content-Length");
      if (!has_length) response.headers.emplace_back("Content-Length", std::to_string(response.body.size()));
      response.body.clear();
    }
    return response;
  }
  if (allowed.empty()) {
    // A path that names a known route's shape with a malformed segment is bad input.
    if (!percent_decode(path)) return json_error(400, "invalid_argument", "malformed percent-encoding in the path");
    return json_error(404, "not_found", fmt::format("nothing at {}", path));
  }
  if (allowed.contains("GET")) allowed.insert("HEAD");
  std::string allow;
  for (const auto& m : allowed) allow += (allow.empty() ? "" : ", ") + m;
  Response r = json_error(405, "method_not_allowed",
                          fmt::format("{} is not allowed on {}; allowed: {}", request.method, path, allow));
  r.headers.emplace_back("Allow", allow);
  return r;
}

}  // namespace recorder::adapters::http
