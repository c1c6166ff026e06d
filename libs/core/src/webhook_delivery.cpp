#include "recorder/core/app/webhook_delivery.hpp"

#include <algorithm>
#include <functional>
#include <vector>

#include <fmt/format.h>

#include "recorder/core/domain/time_text.hpp"

namespace recorder::core {

bool WebhookDelivery::repeated(const Alert& alert, MonoTime now) {
  if (policy_.suppress_repeats <= Duration{0}) return false;
  std::erase_if(recent_alerts_, [&](const auto& kv) { return now - kv.second >= policy_.suppress_repeats; });
  const std::string key = fmt::format("{}\x1f{}\x1f{}", alert.recording_id.value_or(""), alert.cause, alert.message);
  return !recent_alerts_.try_emplace(key, now).second;
}

WebhookDelivery::WebhookDelivery(WebhookEndpoint endpoint, DeliveryPolicy policy, const DeliveryPorts& ports,
                                 std::size_t batch, Duration mark_every)
    : endpoint_(std::move(endpoint)),
      policy_(std::move(policy)),
      ports_(ports),
      batch_(batch == 0 ? 1 : batch),
      mark_every_(mark_every),
      subscriber_(subscriber_of(endpoint_)) {
  health_.endpoint = endpoint_;
}

WebhookHealth WebhookDelivery::health() const {
  std::lock_guard lock(health_mutex_);
  return health_;
}

std::string WebhookDelivery::describe(const WebhookAttempt& a) const {
  if (a.status == 0) return a.error.empty() ? std::string("no answer") : a.error;
  return a.error.empty() ? fmt::format("HTTP {}", a.status) : fmt::format("HTTP {}: {}", a.status, a.error);
}

// The policy's delay for the attempt-th failure, spread by up to +-jitter_percent (the
// spread is derived from the notice and the attempt, so that endpoints that failed together
// do not retry together); the answer's Retry-After instead, when it gave one.
Duration WebhookDelivery::delay_for(const OutboxEntry& entry, unsigned attempt, const WebhookAttempt& a) const {
  if (a.retry_after) return std::max(*a.retry_after, Duration{0});
  const Duration base = policy_.retry_delays.at(attempt - 1);
  if (policy_.jitter_percent == 0) return base;
  const auto spread = static_cast<long long>(policy_.jitter_percent) * 2 + 1;
  const auto h = std::hash<std::string>{}(fmt::format("{}#{}", notice_id(entry.body), attempt));
  const long long percent = 100 + static_cast<long long>(h % static_cast<std::size_t>(spread)) - policy_.jitter_percent;
  return Duration{base.count() * percent / 100};
}

void WebhookDelivery::raise(Severity severity, std::string message, std::optional<RecordingId> recording) {
  ports_.log.write(severity, message);
  const NoticeBody alert =
      Alert{ports_.ids.next(), ports_.clock.wall_now(), severity, std::move(message), std::move(recording), subscriber_};
  if (auto appended = ports_.outbox.append(std::span(&alert, 1)); !appended)
    ports_.log.write(Severity::critical, fmt::format("webhook {}: the alert above could not be saved to the outbox: {}",
                                                     endpoint_.name, appended.error().message));
}

void WebhookDelivery::note_failure(const WebhookAttempt& a) {
  std::lock_guard lock(health_mutex_);
  ++health_.failed_attempts;
  health_.last_failure = ports_.clock.wall_now();
  health_.last_status = a.status;
  health_.last_error = describe(a);
}

Result<void> WebhookDelivery::subscribe() {
  std::lock_guard lock(subscribe_mutex_);
  if (subscribed_) return ok();
  if (auto added = ports_.outbox.add_subscriber(subscriber_); !added) return added;
  subscribed_ = true;
  return ok();
}

std::optional<MonoTime> WebhookDelivery::run_once() {
  const MonoTime now = ports_.clock.monotonic_now();
  const auto store_failed = [&](const std::string& what) -> std::optional<MonoTime> {
    if (store_problem_ != what) {
      store_problem_ = what;
      ports_.log.write(Severity::warning,
                       fmt::format("webhook {}: {}; its notices are kept and delivered later", endpoint_.name, what));
    }
    return now + std::chrono::seconds(1);
  };
  {
    std::lock_guard lock(health_mutex_);
    if (!health_.enabled) return std::nullopt;
  }
  if (auto added = subscribe(); !added)
    return store_failed(fmt::format("cannot subscribe to the outbox: {}", added.error().message));
  if (retrying_seq_ && now < next_attempt_) return next_attempt_;
  auto pending = ports_.outbox.undelivered(subscriber_, batch_);
  if (!pending) return store_failed(fmt::format("cannot read the outbox: {}", pending.error().message));
  if (!store_problem_.empty()) {
    ports_.log.write(Severity::info, fmt::format("webhook {}: the outbox can be read again", endpoint_.name));
    store_problem_.clear();
  }

  std::vector<std::uint64_t> taken;
  MonoTime last_mark = now;
  bool mark_failed = false;
  const auto mark = [&] {
    if (taken.empty()) return;
    if (auto marked = ports_.outbox.mark_delivered(subscriber_, taken); !marked) {
      // Delivered but not marked: they are delivered again later (at least once).
      store_failed(fmt::format("cannot mark {} notices delivered: {}", taken.size(), marked.error().message));
      mark_failed = true;
    }
    taken.clear();
    last_mark = ports_.clock.monotonic_now();
  };

  std::optional<MonoTime> again;
  for (const OutboxEntry& entry : *pending) {
    if (retrying_seq_ && *retrying_seq_ != entry.seq) {
      retrying_seq_.reset();  // the notice it retried was taken elsewhere: start afresh
      attempts_ = 0;
    }
    const std::string type = notice_type(entry.body);
    const auto* alert = std::get_if<Alert>(&entry.body);
    if (!wants(endpoint_, type) || (alert && alert->cause == subscriber_) || !ports_.sender.applies(endpoint_, entry)) {
      taken.push_back(entry.seq);  // not for this endpoint
      continue;
    }
    if (alert && !retrying_seq_ && repeated(*alert, ports_.clock.monotonic_now())) {
      taken.push_back(entry.seq);  // said already, a moment ago
      std::lock_guard lock(health_mutex_);
      ++health_.suppressed;
      continue;
    }
    const WebhookAttempt attempt = ports_.sender.send(endpoint_, entry);
    if (attempt.succeeded()) {
      taken.push_back(entry.seq);
      if (attempts_ > 0)
        ports_.log.write(Severity::info, fmt::format("webhook {}: {} {} delivered after {} failed attempts",
                                                     endpoint_.name, type, notice_id(entry.body), attempts_));
      retrying_seq_.reset();
      attempts_ = 0;
      std::lock_guard lock(health_mutex_);
      ++health_.delivered;
      health_.last_success = ports_.clock.wall_now();
      health_.retrying_attempts = 0;
      health_.next_attempt_at.reset();
    } else if (attempt.status == 410) {
      note_failure(attempt);
      {
        std::lock_guard lock(health_mutex_);
        health_.enabled = false;
        health_.disabled_reason = fmt::format("it answered 410 Gone at {}", format_utc(ports_.clock.wall_now()));
      }
      mark();
      raise(Severity::critical,
            fmt::format("webhook {} ({}) answered 410 Gone: it is disabled until recorderd restarts; its notices are "
                        "kept in the outbox. Remove the endpoint from the configuration, or fix it and restart.",
                        endpoint_.name, endpoint_.url),
            std::nullopt);
      return std::nullopt;
    } else {
      note_failure(attempt);
      retrying_seq_ = entry.seq;
      ++attempts_;
      if (attempts_ > policy_.retry_delays.size()) {
        // Gave up: counted, alerted, and the next notice follows; never dropped silently.
        const std::optional<RecordingId> recording =
            std::holds_alternative<RecordingNotice>(entry.body)
                ? std::optional<RecordingId>(std::get<RecordingNotice>(entry.body).recording.id)
                : (alert ? alert->recording_id : std::nullopt);
        raise(Severity::critical,
              fmt::format("webhook {} ({}) gave up on {} {} after {} attempts; the last: {}", endpoint_.name,
                          endpoint_.url, type, notice_id(entry.body), attempts_, describe(attempt)),
              recording);
        taken.push_back(entry.seq);
        retrying_seq_.reset();
        attempts_ = 0;
        std::lock_guard lock(health_mutex_);
        ++health_.gave_up;
        health_.retrying_attempts = 0;
        health_.next_attempt_at.reset();
        continue;
      }
      const Duration delay = delay_for(entry, attempts_, attempt);
      next_attempt_ = ports_.clock.monotonic_now() + delay;
      {
        std::lock_guard lock(health_mutex_);
        health_.retrying_attempts = attempts_;
        health_.next_attempt_at = ports_.clock.wall_now() + delay;
      }
      if (attempts_ == 1 && endpoint_.kind == ChannelKind::command) {
        // A processing hook that fails is something a person must hear of at once.
        raise(Severity::warning,
              fmt::format("processing hook {} failed for {} {} ({}); retrying in {:.0f} s. The recording itself is "
                          "safe; check the program.",
                          endpoint_.name, type, notice_id(entry.body), describe(attempt), to_seconds(delay)),
              std::holds_alternative<RecordingNotice>(entry.body)
                  ? std::optional<RecordingId>(std::get<RecordingNotice>(entry.body).recording.id)
                  : std::nullopt);
      } else if (attempts_ == 1)
        ports_.log.write(Severity::warning,
                         fmt::format("webhook {}: {} {} not delivered ({}); retrying in {:.0f} s, later notices wait",
                                     endpoint_.name, type, notice_id(entry.body), describe(attempt),
                                     to_seconds(delay)));
      again = next_attempt_;
      break;
    }
    if (ports_.clock.monotonic_now() - last_mark >= mark_every_) mark();
  }
  mark();
  if (mark_failed) return now + std::chrono::seconds(1);
  if (again) return again;
  if (pending->size() == batch_) return ports_.clock.monotonic_now();  // a full batch: more waits
  return std::nullopt;
}

}  // namespace recorder::core
