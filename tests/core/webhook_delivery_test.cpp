// Webhook deliveries from the outbox: in order, at least once, retried on the policy's
// schedule, given up visibly, disabled by a 410; fakes only (the real sender and receiver
// are in tests/integration/webhook_test.cpp).

#include <catch2/catch.hpp>

#include <deque>

#include "recorder/core/app/webhook_delivery.hpp"
#include "recorder/testing/fakes.hpp"

using namespace recorder::core;
using namespace recorder::testing;
using namespace std::chrono_literals;

namespace {

// Answers from a script (then 200), and keeps every notice it was sent.
class ScriptedSender final : public WebhookSender {
 public:
  WebhookAttempt send(const WebhookEndpoint&, const OutboxEntry& entry) override {
    sent.push_back(notice_id(entry.body));
    if (answers.empty()) return WebhookAttempt{200, std::nullopt, ""};
    WebhookAttempt a = answers.front();
    answers.pop_front();
    return a;
  }
  std::deque<WebhookAttempt> answers;
  std::vector<std::string> sent;
};

Recording recording(std::string id) {
  Recording r;
  r.id = std::move(id);
  return r;
}

WebhookAttempt unavailable() { return WebhookAttempt{503, std::nullopt, "down for maintenance"}; }

struct Rig {
  explicit Rig(std::vector<std::string> events = {}, DeliveryPolicy policy = no_jitter())
      : delivery(WebhookEndpoint{"ops", "http://127.0.0.1:9/hook", {"whsec_AAAA"}, std::move(events)},
                 std::move(policy), DeliveryPorts{repository, sender, log, clock, ids}) {}

  static DeliveryPolicy no_jitter() {
    DeliveryPolicy p;
    p.retry_delays = {5s, 300s, 1800s};
    p.jitter_percent = 0;
    return p;
  }

  std::string add(NoticeBody n) {
    const std::string id = notice_id(n);
    REQUIRE(repository.append(std::span(&n, 1)));
    return id;
  }
  std::string add_alert(std::string id, std::string cause = "recording") {
    return add(Alert{std::move(id), clock.wall_now(), Severity::critical, "it broke", std::nullopt, std::move(cause)});
  }
  std::string add_storage(std::string id) {
    return add(StorageNotice{std::move(id), clock.wall_now(), StorageLevel::warn, 85.0});
  }

  FakeClock clock;
  FakeRepository repository;
  FakeOperatorLog log;
  SequentialIds ids;
  ScriptedSender sender;
  WebhookDelivery delivery;
};

}  // namespace

TEST_CASE("notices go out in the outbox's order and are marked for this endpoint only", "[webhook]") {
  Rig rig;
  CHECK_FALSE(rig.delivery.run_once());  // subscribes: it is handed what comes from now on
  const auto a = rig.add_alert("a");
  const auto b = rig.add_storage("b");
  CHECK_FALSE(rig.delivery.run_once());
  CHECK(rig.sender.sent == std::vector<std::string>{a, b});
  CHECK(rig.repository.pending("webhook:ops").value() == 0);
  const auto h = rig.delivery.health();
  CHECK(h.delivered == 2);
  CHECK(h.last_success == rig.clock.wall_now());
  CHECK(h.failed_attempts == 0);
}

TEST_CASE("a failed notice is retried on the schedule and the ones after it wait", "[webhook]") {
  Rig rig;
  (void)rig.delivery.run_once();
  const auto a = rig.add_alert("a");
  const auto b = rig.add_alert("b");
  rig.sender.answers = {unavailable(), unavailable()};

  auto next = rig.delivery.run_once();
  REQUIRE(next);
  CHECK(*next == rig.clock.monotonic_now() + 5s);
  CHECK(rig.sender.sent == std::vector<std::string>{a});
  CHECK(rig.delivery.health().retrying_attempts == 1);
  CHECK(rig.delivery.health().last_status == 503);
  CHECK(rig.delivery.health().last_error == "HTTP 503: down for maintenance");

  // Before its time nothing is sent, however often it is woken.
  rig.clock.advance(4s);
  CHECK(rig.delivery.run_once() == next);
  CHECK(rig.sender.sent.size() == 1);

  rig.clock.advance(1s);
  next = rig.delivery.run_once();
  REQUIRE(next);
  CHECK(*next == rig.clock.monotonic_now() + 300s);  // the second delay
  rig.clock.advance(300s);
  CHECK_FALSE(rig.delivery.run_once());
  CHECK(rig.sender.sent == std::vector<std::string>{a, a, a, b});
  CHECK(rig.repository.pending("webhook:ops").value() == 0);
  CHECK(rig.delivery.health().failed_attempts == 2);
  CHECK(rig.delivery.health().retrying_attempts == 0);
  CHECK(rig.log.any_containing("delivered after 2 failed attempts"));
}

TEST_CASE("Retry-After takes the place of the schedule's delay", "[webhook]") {
  Rig rig;
  (void)rig.delivery.run_once();
  rig.add_alert("a");
  rig.sender.answers = {WebhookAttempt{429, 42s, "slow down"}};
  auto next = rig.delivery.run_once();
  REQUIRE(next);
  CHECK(*next == rig.clock.monotonic_now() + 42s);
}

TEST_CASE("after the last retry the delivery gives up visibly and the next notice follows", "[webhook]") {
  Rig rig;
  (void)rig.delivery.run_once();
  const auto a = rig.add(RecordingNotice{"a", rig.clock.wall_now(), Notice::ready, recording("rec-1")});
  const auto b = rig.add_alert("b");
  rig.sender.answers = {unavailable(), unavailable(), unavailable(), unavailable()};
  for (const auto delay : {5s, 300s, 1800s}) {
    REQUIRE(rig.delivery.run_once());
    rig.clock.advance(delay);
  }
  CHECK_FALSE(rig.delivery.run_once());  // the fourth attempt fails: given up; b goes out
  CHECK(rig.sender.sent == std::vector<std::string>{a, a, a, a, b});
  const auto h = rig.delivery.health();
  CHECK(h.gave_up == 1);
  CHECK(h.delivered == 1);
  // The give-up is an alert in the outbox, about the recording, with this endpoint as cause.
  REQUIRE(rig.repository.count_notices("alert.critical") == 2);
  const auto& alert = std::get<Alert>(rig.repository.outbox.back().body);
  CHECK(alert.recording_id == RecordingId{"rec-1"});
  CHECK(alert.cause == "webhook:ops");
  CHECK(alert.message.find("gave up on recording.ready a after 4 attempts") != std::string::npos);
  // It is not offered back to the endpoint it is about (a dead endpoint would loop).
  CHECK_FALSE(rig.delivery.run_once());
  CHECK(rig.sender.sent.size() == 5);
  CHECK(rig.repository.pending("webhook:ops").value() == 0);
}

TEST_CASE("a 410 disables the endpoint and keeps its notices", "[webhook]") {
  Rig rig;
  (void)rig.delivery.run_once();
  rig.add_alert("a");
  rig.add_alert("b");
  rig.sender.answers = {WebhookAttempt{410, std::nullopt, "gone"}};
  CHECK_FALSE(rig.delivery.run_once());
  const auto h = rig.delivery.health();
  CHECK_FALSE(h.enabled);
  CHECK(h.disabled_reason.starts_with("it answered 410 Gone"));
  // a, b and the alert about the 410 wait in the outbox.
  CHECK(rig.repository.pending("webhook:ops").value() == 3);
  CHECK(rig.repository.count_notices("alert.critical") == 3);
  CHECK(rig.log.any_containing("answered 410 Gone: it is disabled"));
  rig.clock.advance(1h);
  CHECK_FALSE(rig.delivery.run_once());
  CHECK(rig.sender.sent.size() == 1);
}

TEST_CASE("an endpoint is sent only the event types it subscribed to", "[webhook]") {
  Rig rig({"recording.*", "storage.critical"});
  (void)rig.delivery.run_once();
  rig.add_alert("alert");
  rig.add_storage("warning");
  const auto ready = rig.add(RecordingNotice{"ready", rig.clock.wall_now(), Notice::ready, recording("r")});
  CHECK_FALSE(rig.delivery.run_once());
  CHECK(rig.sender.sent == std::vector<std::string>{ready});
  CHECK(rig.repository.pending("webhook:ops").value() == 0);  // the others are passed over, not kept
}

TEST_CASE("while the store is down nothing is lost and the problem is logged once", "[webhook]") {
  Rig rig;
  (void)rig.delivery.run_once();
  rig.add_alert("a");
  rig.repository.down = true;
  auto next = rig.delivery.run_once();
  REQUIRE(next);
  CHECK(*next == rig.clock.monotonic_now() + 1s);
  (void)rig.delivery.run_once();
  CHECK(rig.log.count(Severity::warning) == 1);
  rig.repository.down = false;
  CHECK_FALSE(rig.delivery.run_once());
  CHECK(rig.sender.sent.size() == 1);
  CHECK(rig.log.any_containing("the outbox can be read again"));
}

TEST_CASE("retry delays are spread by the jitter and stay within it", "[webhook]") {
  DeliveryPolicy policy;
  policy.retry_delays = {100s};
  policy.jitter_percent = 20;
  std::set<Duration::rep> seen;
  for (int i = 0; i < 20; ++i) {
    Rig rig({}, policy);
    (void)rig.delivery.run_once();
    rig.add_alert("n-" + std::to_string(i));
    rig.sender.answers = {unavailable()};
    auto next = rig.delivery.run_once();
    REQUIRE(next);
    const auto delay = std::chrono::duration_cast<Duration>(*next - rig.clock.monotonic_now());
    CHECK(delay >= 80s);
    CHECK(delay <= 120s);
    seen.insert(delay.count());
  }
  CHECK(seen.size() > 5);  // not one fixed delay
}

TEST_CASE("event filters match exact types - prefixes and everything", "[webhook]") {
  const WebhookEndpoint all{"a", "http://x", {"whsec_AAAA"}, {}};
  const WebhookEndpoint some{"b", "http://x", {"whsec_AAAA"}, {"recording.*", "alert.critical"}};
  CHECK(wants(all, "agent.connected"));
  CHECK(wants(some, "recording.ready"));
  CHECK(wants(some, "alert.critical"));
  CHECK_FALSE(wants(some, "alert.warning"));
  CHECK_FALSE(wants(some, "recordingx.ready"));
  CHECK_FALSE(wants(some, "storage.warning"));
}

TEST_CASE("an alert channel sends an identical alert once within the repeat window", "[webhook][alerts]") {
  DeliveryPolicy policy = Rig::no_jitter();
  policy.suppress_repeats = 60min;
  Rig rig({}, policy);
  (void)rig.delivery.run_once();
  const auto first = rig.add_alert("a", "store");
  rig.add_alert("b", "store");                    // the same text, cause and recording: a repeat
  const auto other = rig.add_alert("c", "storage");  // another cause
  CHECK_FALSE(rig.delivery.run_once());
  CHECK(rig.sender.sent == std::vector<std::string>{first, other});
  CHECK(rig.delivery.health().suppressed == 1);
  rig.clock.advance(61min);
  const auto later = rig.add_alert("d", "store");  // the window passed: said again
  CHECK_FALSE(rig.delivery.run_once());
  CHECK(rig.sender.sent.back() == later);
  CHECK(rig.repository.pending(rig.delivery.subscriber()).value() == 0);
}

TEST_CASE("a notice the sender says is not for its channel is passed over - not retried", "[webhook][alerts]") {
  class NobodyToMail final : public WebhookSender {
   public:
    WebhookAttempt send(const WebhookEndpoint&, const OutboxEntry&) override {
      ++sent;
      return WebhookAttempt{200, std::nullopt, ""};
    }
    bool applies(const WebhookEndpoint&, const OutboxEntry& e) const override {
      return !std::holds_alternative<StorageNotice>(e.body);
    }
    int sent = 0;
  } sender;
  FakeClock clock;
  FakeRepository repository;
  FakeOperatorLog log;
  SequentialIds ids;
  WebhookDelivery email(WebhookEndpoint{"email", "smtp://127.0.0.1:25", {}, {}, ChannelKind::email}, DeliveryPolicy{},
                        DeliveryPorts{repository, sender, log, clock, ids});
  CHECK(email.subscriber() == "email");
  (void)email.run_once();
  const NoticeBody notices[] = {StorageNotice{"s", clock.wall_now(), StorageLevel::warn, 81.0},
                                Alert{"a", clock.wall_now(), Severity::critical, "x", std::nullopt, "storage"}};
  REQUIRE(repository.append(notices));
  CHECK_FALSE(email.run_once());
  CHECK(sender.sent == 1);
  CHECK(repository.pending("email").value() == 0);
}
