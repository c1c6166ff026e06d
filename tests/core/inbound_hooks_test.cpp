// Inbound webhooks from an external recorder (seed 004's direction): complete attaches the
// uploaded video, failed fails the recording; a repeated webhook-id changes nothing.

#include <catch2/catch.hpp>

#include "recorder/core/app/inbound_hooks.hpp"
#include "recorder/testing/fakes.hpp"

using namespace recorder::core;
using namespace recorder::testing;

namespace {

// A finished agent meeting, as the agent reported it.
RecordingId finished_meeting(Harness& h) {
  AgentReport r;
  r.agent_id = "room-1";
  r.subject = "Training";
  r.organizer = "coach@example.org";
  r.start_time = "2026-11-23T10:00:00Z";
  auto started = h.service.agent_start_confirmed(r);
  REQUIRE(started);
  r.success = true;
  r.duration_actual = 3600;
  REQUIRE(h.service.agent_stop_confirmed(r)->state == State::ready);
  return started->id;
}

InboundHook complete(std::string id, std::string recording) {
  InboundHook k;
  k.webhook_id = std::move(id);
  k.type = "recording.complete";
  k.recording = std::move(recording);
  k.video = UploadedVideo{"https://cdn.example/v/1.mp4", 1234567};
  return k;
}

}  // namespace

TEST_CASE("recording.complete attaches the video - a repeat changes nothing", "[inbound]") {
  Harness h;
  const auto id = finished_meeting(h);
  InboundHooks hooks(h.service, h.repository, h.clock);
  auto first = hooks.take(complete("msg_1", id));
  REQUIRE(first);
  CHECK_FALSE(first->repeat);
  CHECK(first->recording->video.url == "https://cdn.example/v/1.mp4");
  CHECK(first->recording->video.file_size == 1234567u);
  const auto saves = h.repository.saves;
  // The same webhook again, even with other data: taken once.
  auto other = complete("msg_1", id);
  other.video.url = "https://cdn.example/v/other.mp4";
  auto again = hooks.take(other);
  REQUIRE(again);
  CHECK(again->repeat);
  CHECK(again->recording->video.url == "https://cdn.example/v/1.mp4");
  CHECK(h.repository.saves == saves);
}

TEST_CASE("recording.failed fails a finished agent recording with the error and an alert", "[inbound]") {
  Harness h;
  const auto id = finished_meeting(h);
  InboundHooks hooks(h.service, h.repository, h.clock);
  InboundHook k;
  k.webhook_id = "msg_2";
  k.type = "recording.failed";
  k.recording = id;
  k.error = "transcoding failed at the CDN";
  auto taken = hooks.take(k);
  REQUIRE(taken);
  CHECK(taken->recording->state == State::failed);
  CHECK(taken->recording->error == "the upload failed: transcoding failed at the CDN");
  CHECK(h.repository.count_notices("recording.failed") == 1);
  CHECK(h.repository.count_notices("alert.critical") == 1);
}

TEST_CASE("an inbound hook names what is wrong with it - and nothing is remembered", "[inbound]") {
  Harness h;
  const auto id = finished_meeting(h);
  InboundHooks hooks(h.service, h.repository, h.clock);
  const auto refused = [&](InboundHook k) {
    auto r = hooks.take(k);
    REQUIRE_FALSE(r);
    return r.error();
  };
  auto k = complete("m", id);
  k.type = "recording.started";
  CHECK(refused(k).message.starts_with("type: 'recording.started' is not taken here"));
  k = complete("m", id);
  k.video.url.clear();
  CHECK(refused(k).message == "data.video_url: required for recording.complete");
  k = complete("m", "nobody");
  CHECK(refused(k).code == Errc::not_found);
  // A stream has no uploaded video: the state machine says so.
  REQUIRE(h.service.start_stream(StreamStart{"s-1", "", "video/webm", "", {}}));
  k = complete("m", "s-1");
  CHECK(refused(k).message.find("only agent recordings") != std::string::npos);
  CHECK(h.repository.hooks_taken.empty());
  // A store that is down: an error the sender retries on (503), nothing half done.
  h.repository.down = true;
  CHECK(refused(complete("m2", id)).code == Errc::unavailable);
}
