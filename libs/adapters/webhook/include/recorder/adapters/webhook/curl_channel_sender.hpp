#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "recorder/core/app/config.hpp"
#include "recorder/core/app/notice_text.hpp"
#include "recorder/core/ports/clock.hpp"
#include "recorder/core/ports/webhook_sender.hpp"

namespace recorder::adapters::webhook {

// How a notice is written: the Standard Webhooks body ({"type", "timestamp", "data"}) and
// the text a person reads (Slack, e-mail). Both come from the daemon, which knows the REST
// shape and can sign media links.
struct Writers {
  std::function<std::string(const core::OutboxEntry&)> payload;
  std::function<core::NoticeText(const core::OutboxEntry&)> text;
};

// Delivers notices with libcurl's easy interface, one blocking transfer at a time per
// calling thread (the daemon gives each channel its own thread; ADR 0014):
// - webhook: a POST signed afresh at each attempt (Standard Webhooks v1);
// - slack:   a POST of {"text": ...} to the incoming webhook URL;
// - email:   a message over SMTP to the notice's recipients (alerts and failed recordings:
//            the admins; a ready recording: its organizer when that is an address).
// No redirects are followed; a transfer, connection included, must finish within `timeout`.
class CurlChannelSender final : public core::WebhookSender {
 public:
  CurlChannelSender(Writers writers, const core::Clock& clock, std::chrono::milliseconds timeout,
                    std::string user_agent, core::SmtpSettings smtp, std::vector<std::string> admin_emails);

  core::WebhookAttempt send(const core::WebhookEndpoint& endpoint, const core::OutboxEntry& entry) override;
  bool applies(const core::WebhookEndpoint& endpoint, const core::OutboxEntry& entry) const override;

  // Who an e-mail about `entry` goes to (none: it is not mailed).
  std::vector<std::string> recipients(const core::OutboxEntry& entry) const;

  // Ends transfers under way (they fail, and are retried after the next start) and refuses
  // new ones: for shutdown. Any thread.
  void cancel() { cancelled_ = true; }

 private:
  core::WebhookAttempt post(const std::string& url, const std::vector<std::string>& headers, const std::string& body);
  core::WebhookAttempt mail(const core::OutboxEntry& entry);
  void limit(void* curl, char* error);

  std::atomic<bool> cancelled_{false};
  Writers writers_;
  const core::Clock& clock_;
  std::chrono::milliseconds timeout_;
  std::string user_agent_;
  core::SmtpSettings smtp_;
  std::vector<std::string> admin_emails_;
};

}  // namespace recorder::adapters::webhook
