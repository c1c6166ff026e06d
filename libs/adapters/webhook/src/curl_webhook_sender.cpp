#include "recorder/adapters/webhook/curl_webhook_sender.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <memory>
#include <mutex>

#include <fmt/format.h>

#include "recorder/adapters/webhook/standard_webhooks.hpp"

namespace recorder::adapters::webhook {
namespace {

constexpr std::size_t kBodyExcerpt = 200;  // of a refusal's body, for the operator

struct Answer {
  std::string body;           // the first kBodyExcerpt bytes
  std::string retry_after;    // the Retry-After header's value
};

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto& answer = *static_cast<Answer*>(user);
  const std::size_t n = size * count;
  if (answer.body.size() < kBodyExcerpt) answer.body.append(data, std::min(n, kBodyExcerpt - answer.body.size()));
  return n;
}

std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
  auto& answer = *static_cast<Answer*>(user);
  const std::size_t n = size * count;
  std::string_view line(data, n);
  constexpr std::string_view name = "retry-after:";
  if (line.size() > name.size() &&
      std::equal(name.begin(), name.end(), line.begin(),
                 [](char a, char b) { return a == std::tolower(static_cast<unsigned char>(b)); })) {
    line.remove_prefix(name.size());
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    while (!line.empty() && (line.back() == '\r' || line.back() == '\n' || line.back() == ' ')) line.remove_suffix(1);
    answer.retry_after = std::string(line);
  }
  return n;
}

// Retry-After as seconds or as an HTTP date (RFC 9110 10.2.3).
std::optional<core::Duration> retry_after(const std::string& value, core::WallTime now) {
  if (value.empty()) return std::nullopt;
  std::uint64_t seconds = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (ec == std::errc{} && ptr == value.data() + value.size())
    return std::chrono::duration_cast<core::Duration>(std::chrono::seconds(std::min<std::uint64_t>(seconds, 86400 * 7)));
  const time_t at = curl_getdate(value.c_str(), nullptr);
  if (at < 0) return std::nullopt;
  const auto delta = std::chrono::system_clock::from_time_t(at) - now;
  return std::max(core::Duration{0}, std::chrono::duration_cast<core::Duration>(delta));
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<const std::atomic<bool>*>(user)->load() ? 1 : 0;  // non-zero aborts
}

void init_curl_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

}  // namespace

CurlWebhookSender::CurlWebhookSender(Payload payload, const core::Clock& clock, std::chrono::milliseconds timeout,
                                     std::string user_agent)
    : payload_(std::move(payload)), clock_(clock), timeout_(timeout), user_agent_(std::move(user_agent)) {
  init_curl_once();
}

core::WebhookAttempt CurlWebhookSender::send(const core::WebhookEndpoint& endpoint, const core::OutboxEntry& entry) {
  core::WebhookAttempt attempt;
  if (cancelled_) {
    attempt.error = "recorderd is shutting down";
    return attempt;
  }
  const std::string body = payload_(entry);
  const std::string& id = core::notice_id(entry.body);
  const auto now = clock_.wall_now();
  const std::int64_t timestamp = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  auto signature = sign(endpoint.secrets, id, timestamp, body);
  if (!signature) {
    attempt.error = signature.error().message;
    return attempt;
  }
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), &curl_easy_cleanup);
  if (!curl) {
    attempt.error = "libcurl could not make a request";
    return attempt;
  }
  curl_slist* headers = nullptr;
  for (const std::string& h : {std::string("Content-Type: application/json"), fmt::format("webhook-id: {}", id),
                               fmt::format("webhook-timestamp: {}", timestamp),
                               fmt::format("webhook-signature: {}", *signature), std::string("Expect:")})
    headers = curl_slist_append(headers, h.c_str());
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> header_list(headers, &curl_slist_free_all);
  Answer answer;
  char error[CURL_ERROR_SIZE] = {};
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, endpoint.url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(c, CURLOPT_USERAGENT, user_agent_.c_str());
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_.count()));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // threads: no SIGALRM for DNS timeouts
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &answer);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &answer);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &on_progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &cancelled_);
  const CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    attempt.error = error[0] != '\0' ? std::string(error) : std::string(curl_easy_strerror(rc));
    return attempt;
  }
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  attempt.status = static_cast<int>(status);
  if (!attempt.succeeded()) {
    attempt.retry_after = retry_after(answer.retry_after, clock_.wall_now());
    std::string excerpt;
    for (char ch : answer.body) excerpt += std::isprint(static_cast<unsigned char>(ch)) ? ch : ' ';
    attempt.error = excerpt;
  }
  return attempt;
}

}  // namespace recorder::adapters::webhook
