#include "recorder/adapters/webhook/curl_channel_sender.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <ctime>
#include <cctype>
#include <cstring>
#include <charconv>
#include <memory>
#include <mutex>

#include <fmt/format.h>

#include "recorder/adapters/json/json.hpp"
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

// Retry-After as seconds or as an HTTP date (RFC 9110 10.2.3), at most a week.
std::optional<core::Duration> retry_after(const std::string& value, core::WallTime now) {
  if (value.empty()) return std::nullopt;
  std::uint64_t seconds = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (ec == std::errc{} && ptr == value.data() + value.size())
    return std::chrono::duration_cast<core::Duration>(std::chrono::seconds(std::min<std::uint64_t>(seconds, 86400 * 7)));
  const time_t at = curl_getdate(value.c_str(), nullptr);
  if (at < 0) return std::nullopt;
  const auto delta = std::chrono::duration_cast<core::Duration>(std::chrono::system_clock::from_time_t(at) - now);
  return std::clamp(delta, core::Duration{0}, core::Duration{std::chrono::hours(24 * 7)});
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<const std::atomic<bool>*>(user)->load() ? 1 : 0;  // non-zero aborts
}

// A message for SMTP: headers, a blank line, the body; CRLF line ends (libcurl escapes a
// leading dot itself).
std::string crlf(const std::string& text) {
  std::string out;
  out.reserve(text.size() + text.size() / 40);
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r')) out += '\r';
    out += text[i];
  }
  return out;
}

// A header value: as is when it is printable ASCII, else RFC 2047 base64 words of at most
// 45 bytes each (75 characters encoded), cut between UTF-8 characters, folded.
std::string header_text(const std::string& text) {
  const bool plain = std::ranges::all_of(text, [](char ch) {
    const auto u = static_cast<unsigned char>(ch);
    return u >= 0x20 && u < 0x7f;
  });
  if (plain) return text;
  std::string out;
  for (std::size_t start = 0; start < text.size();) {
    std::size_t end = std::min(start + 45, text.size());
    while (end < text.size() && end > start + 1 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
    out += fmt::format("{}=?UTF-8?B?{}?=", out.empty() ? "" : "\r\n ",
                       base64(std::string_view(text).substr(start, end - start)));
    start = end;
  }
  return out;
}

std::string rfc5322_date(core::WallTime at) {
  const std::time_t t = std::chrono::system_clock::to_time_t(at);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buffer[64];
  const std::size_t n = std::strftime(buffer, sizeof buffer, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  return std::string(buffer, n);
}

struct Upload {
  std::string data;
  std::size_t sent = 0;
};

std::size_t on_read(char* buffer, std::size_t size, std::size_t count, void* user) {
  auto& u = *static_cast<Upload*>(user);
  const std::size_t n = std::min(size * count, u.data.size() - u.sent);
  std::memcpy(buffer, u.data.data() + u.sent, n);
  u.sent += n;
  return n;
}

void init_curl_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

}  // namespace


CurlChannelSender::CurlChannelSender(Writers writers, const core::Clock& clock, std::chrono::milliseconds timeout,
                                     std::string user_agent, core::SmtpSettings smtp,
                                     std::vector<std::string> admin_emails)
    : writers_(std::move(writers)),
      clock_(clock),
      timeout_(timeout),
      user_agent_(std::move(user_agent)),
      smtp_(std::move(smtp)),
      admin_emails_(std::move(admin_emails)) {
  init_curl_once();
}

std::vector<std::string> CurlChannelSender::recipients(const core::OutboxEntry& entry) const {
  if (const auto* n = std::get_if<core::RecordingNotice>(&entry.body); n && n->notice == core::Notice::ready) {
    // Seed 004: the organizer and the recording's notify list are told that it is ready.
    std::vector<std::string> to;
    if (core::is_email_address(n->recording.meta.organizer)) to.push_back(n->recording.meta.organizer);
    for (const auto& a : n->recording.meta.notify)
      if (core::is_email_address(a) && std::ranges::find(to, a) == to.end()) to.push_back(a);
    return to;
  }
  return admin_emails_;  // alerts, failed recordings, anything else mailed
}

bool CurlChannelSender::applies(const core::WebhookEndpoint& endpoint, const core::OutboxEntry& entry) const {
  return endpoint.kind != core::ChannelKind::email || !recipients(entry).empty();
}

core::WebhookAttempt CurlChannelSender::send(const core::WebhookEndpoint& endpoint, const core::OutboxEntry& entry) {
  core::WebhookAttempt attempt;
  if (cancelled_) {
    attempt.error = "recorderd is shutting down";
    return attempt;
  }
  switch (endpoint.kind) {
    case core::ChannelKind::webhook: {
      const std::string body = writers_.payload(entry);
      const std::string& id = core::notice_id(entry.body);
      const std::int64_t timestamp =
          std::chrono::duration_cast<std::chrono::seconds>(clock_.wall_now().time_since_epoch()).count();
      auto signature = sign(endpoint.secrets, id, timestamp, body);
      if (!signature) {
        attempt.error = signature.error().message;
        return attempt;
      }
      return post(endpoint.url,
                  {"Content-Type: application/json", fmt::format("webhook-id: {}", id),
                   fmt::format("webhook-timestamp: {}", timestamp), fmt::format("webhook-signature: {}", *signature)},
                  body);
    }
    case core::ChannelKind::slack: {
      const core::NoticeText text = writers_.text(entry);
      rapidjson::StringBuffer buffer;
      json::Writer w(buffer);
      w.StartObject();
      json::put(w, "text", fmt::format("*{}*\n{}", text.subject, text.body));
      w.EndObject();
      return post(endpoint.url, {"Content-Type: application/json"}, std::string(buffer.GetString(), buffer.GetSize()));
    }
    case core::ChannelKind::email: return mail(entry);
    case core::ChannelKind::command: break;  // programs are run by the system adapter
  }
  attempt.error = "unknown channel";
  return attempt;
}

// Every transfer: the timeout (connection included), no signals (threads), an error text,
// and the progress callback that aborts it at shutdown.
void CurlChannelSender::limit(void* c, char* error) {
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_.count()));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &on_progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &cancelled_);
}

core::WebhookAttempt CurlChannelSender::post(const std::string& url, const std::vector<std::string>& header_lines,
                                             const std::string& body) {
  core::WebhookAttempt attempt;
  // One handle per delivering thread, reset between requests: its connection cache keeps
  // the connection to the endpoint open (HTTP keep-alive) from one notice to the next.
  thread_local std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(nullptr, &curl_easy_cleanup);
  if (curl) curl_easy_reset(curl.get());
  else curl.reset(curl_easy_init());
  if (!curl) {
    attempt.error = "libcurl could not make a request";
    return attempt;
  }
  curl_slist* headers = nullptr;
  for (const std::string& h : header_lines) headers = curl_slist_append(headers, h.c_str());
  headers = curl_slist_append(headers, "Expect:");
  // A slow endpoint's connection is not kept for ever: at most 60 s idle.
  curl_easy_setopt(curl.get(), CURLOPT_MAXAGE_CONN, 60L);
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> header_list(headers, &curl_slist_free_all);
  Answer answer;
  char error[CURL_ERROR_SIZE] = {};
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(c, CURLOPT_USERAGENT, user_agent_.c_str());
  limit(c, error);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &answer);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &answer);
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

core::WebhookAttempt CurlChannelSender::mail(const core::OutboxEntry& entry) {
  core::WebhookAttempt attempt;
  const std::vector<std::string> to = recipients(entry);
  if (to.empty()) {
    attempt.status = 200;  // nobody to tell (applies() keeps such notices away)
    return attempt;
  }
  const core::NoticeText text = writers_.text(entry);
  std::string to_line;
  for (const auto& a : to) to_line += (to_line.empty() ? "" : ", ") + a;
  Upload upload;
  upload.data = crlf(fmt::format(
      "Date: {}\nFrom: recorderd <{}>\nTo: {}\nSubject: {}\nMessage-ID: <{}@recorderd>\nMIME-Version: 1.0\n"
      "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\nX-Recorderd-Notice: {} {}\n\n{}",
      rfc5322_date(clock_.wall_now()), smtp_.from, to_line, header_text(text.subject), core::notice_id(entry.body),
      core::notice_type(entry.body), core::notice_id(entry.body), text.body));

  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), &curl_easy_cleanup);
  if (!curl) {
    attempt.error = "libcurl could not make a request";
    return attempt;
  }
  curl_slist* rcpt = nullptr;
  for (const auto& a : to) rcpt = curl_slist_append(rcpt, fmt::format("<{}>", a).c_str());
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> rcpt_list(rcpt, &curl_slist_free_all);
  const std::string from = fmt::format("<{}>", smtp_.from);
  char error[CURL_ERROR_SIZE] = {};
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, smtp_.url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  curl_easy_setopt(c, CURLOPT_MAIL_FROM, from.c_str());
  curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
  curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(c, CURLOPT_READFUNCTION, &on_read);
  curl_easy_setopt(c, CURLOPT_READDATA, &upload);
  curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(upload.data.size()));
  curl_easy_setopt(c, CURLOPT_USE_SSL, smtp_.starttls == "require" ? CURLUSESSL_ALL
                                        : smtp_.starttls == "off"   ? CURLUSESSL_NONE
                                                                    : CURLUSESSL_TRY);
  if (!smtp_.username.empty()) {
    curl_easy_setopt(c, CURLOPT_USERNAME, smtp_.username.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, smtp_.password.c_str());
  }
  limit(c, error);
  const CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    const std::string what = error[0] != '\0' ? std::string(error) : std::string(curl_easy_strerror(rc));
    attempt.error = code > 0 ? fmt::format("SMTP {}: {}", code, what) : what;
    return attempt;  // status 0: retried on the schedule
  }
  attempt.status = 200;  // the server took the message (250)
  return attempt;
}

}  // namespace recorder::adapters::webhook
