// /ws/{session_id} over a real WebSocket: seed 002's two test flows and its error messages.

#include "daemon_fixture.hpp"
#include "recorder/adapters/gstreamer/gst_media.hpp"
#include "json_util.hpp"

using namespace recorder;
using namespace recorder::testing;
using namespace std::chrono_literals;

namespace {

std::string next_text(WsClient& c) {
  auto m = c.next(10s);
  REQUIRE(m);
  REQUIRE(m->text);
  return m->payload;
}

// The next error; other messages (a recording_ready, say) are passed over.
std::string error_message(WsClient& c) {
  auto m = c.next_containing(R"("type":"error")");
  REQUIRE(m);
  return parse_json(*m)["message"].GetString();
}

}  // namespace

TEST_CASE("seed 002 test 1: start - a chunk of zeros - stop - then an unknown action", "[daemon][action][seed002]") {
  RunningDaemon d;
  auto c = d.connect("/ws/test-session-123");
  c->send_text(R"({"action": "start", "format": "wav"})");
  auto started = parse_json(next_text(*c));
  CHECK(std::string(started["type"].GetString()) == "recording_started");
  CHECK(std::string(started["session_id"].GetString()) == "test-session-123");
  CHECK(std::string(started["format"].GetString()) == "wav");

  const std::string zeros(1024, '\0');
  c->send_text(R"({"action": "audio_chunk", "data": ")" + base64(zeros) + "\"}");
  c->send_text(R"({"action": "stop"})");
  auto stopped = parse_json(next_text(*c));
  CHECK(std::string(stopped["type"].GetString()) == "recording_stopped");
  CHECK(stopped["duration_seconds"].IsNumber());
  auto processing = parse_json(next_text(*c));
  CHECK(std::string(processing["type"].GetString()) == "processing_started");
  CHECK(std::string(processing["message"].GetString()) == "Transcription and diarization started");

  c->send_text(R"({"action": "dance"})");
  // Zeros are not media (seed 002 expected its FFmpeg to fail here): the conversion fails
  // with a clear error, and the bytes stay. That notice and the answer to "dance" may come
  // in either order.
  std::string unknown;
  std::string failed;
  const auto until = std::chrono::steady_clock::now() + 20s;
  while ((unknown.empty() || failed.empty()) && std::chrono::steady_clock::now() < until) {
    auto m = c->next(1s);
    if (!m) continue;
    if (m->payload.find("Unknown action") != std::string::npos) unknown = m->payload;
    if (m->payload.find("recording_failed") != std::string::npos) failed = m->payload;
  }
  CHECK_FALSE(unknown.empty());
  REQUIRE_FALSE(failed.empty());
  CHECK(failed.find("not a media file") != std::string::npos);
  const auto r = d.wait_finished("test-session-123");
  CHECK(r.state == core::State::failed);
  REQUIRE_FALSE(r.files.empty());
  CHECK(read_file(d.dir.path() / r.files[0].path) == zeros);
}

TEST_CASE("real WebM audio sent as chunks becomes a 16 kHz mono wav - the original kept",
          "[daemon][action][seed002][gstreamer]") {
  RunningDaemon d;
  const auto webm = d.dir.path() / "source.webm";
  REQUIRE(adapters::gstreamer::run_pipeline(
      "webmmux name=m ! filesink location=" + webm.string() +
          " audiotestsrc num-buffers=100 samplesperbuffer=960 ! audio/x-raw,rate=48000,channels=1 ! opusenc ! m.audio_0",
      60s));
  const std::string bytes = read_file(webm);
  auto c = d.connect("/ws/lecture-wav");
  c->send_text(R"({"action": "start", "format": "wav"})");
  REQUIRE(c->next_containing("recording_started"));
  for (std::size_t at = 0; at < bytes.size(); at += 4000)
    c->send_text(R"({"action": "audio_chunk", "data": ")" + base64(bytes.substr(at, 4000)) + "\"}");
  c->send_text(R"({"action": "stop"})");
  REQUIRE(c->next_containing("processing_started"));
  auto ready = c->next_containing("recording_ready", 60s);
  REQUIRE(ready);
  auto doc = parse_json(*ready);
  const std::string url = doc["download_url"].GetString();
  CHECK(url.find("recording.wav") != std::string::npos);
  CHECK(doc["duration_seconds"].GetDouble() == Approx(2.0).margin(0.1));
  auto wav = http_get(url);
  REQUIRE(wav.status == 200);
  CHECK(wav.body.substr(0, 4) == "RIFF");
  CHECK(wav.body.size() == Approx(44 + 2 * 32000).margin(2000));
  CHECK(http_get(doc["original_url"].GetString()).body == bytes);
}

TEST_CASE("seed 002 test 2: an invalid format is refused - mp4 is accepted", "[daemon][action][seed002]") {
  RunningDaemon d;
  auto c = d.connect("/ws/format-session");
  c->send_text(R"({"action": "start", "format": "ogg"})");
  CHECK(error_message(*c) == "Invalid format. Use 'wav' or 'mp4'");
  c->send_text(R"({"action": "start", "format": "mp4"})");
  auto started = parse_json(next_text(*c));
  CHECK(std::string(started["type"].GetString()) == "recording_started");
  CHECK(std::string(started["format"].GetString()) == "mp4");
}

TEST_CASE("seed 002's error messages word for word", "[daemon][action][seed002]") {
  RunningDaemon d(Settings{{"action.max_total_bytes", "3145728"}, {"action.max_duration_seconds", "2"}});
  auto c = d.connect("/ws/errors");
  c->send_text(R"({"action": "audio_chunk", "data": "QUJD"})");
  CHECK(error_message(*c) == "Recording not started. Send 'start' action first");
  c->send_text(R"({"action": "stop"})");
  CHECK(error_message(*c) == "Recording not started. Send 'start' action first");
  c->send_text("this is not JSON");
  CHECK(error_message(*c).rfind("Invalid JSON", 0) == 0);
  c->send_text(R"({"format": "wav"})");
  CHECK(error_message(*c) == "Unknown action");

  c->send_text(R"({"action": "start", "format": "wav"})");
  REQUIRE(c->next_containing("recording_started"));
  c->send_text(R"({"action": "audio_chunk", "data": "!!not base64!!"})");
  CHECK(error_message(*c) == "Invalid audio data encoding");
  c->send_text(R"({"action": "audio_chunk", "data": 42})");
  CHECK(error_message(*c) == "Invalid audio data encoding");
  c->send_binary(std::string(1024 * 1024 + 1, 'x'));
  CHECK(error_message(*c) == "Chunk size exceeds limit (1MB)");
  for (int i = 0; i < 3; ++i) c->send_binary(std::string(1024 * 1024, 'y'));
  c->send_binary("z");
  CHECK(error_message(*c) == "Total data size exceeds limit (3MB)");
  // What was received before the breach is kept and finalized.
  const auto r = d.wait_finished("errors");
  CHECK(r.stop_reason == core::StopReason::size_limit);
  CHECK(r.ledger.total_bytes() == 3u * 1024 * 1024);

  auto late = d.connect("/ws/slow");
  late->send_text(R"({"action": "start", "format": "mp4"})");
  REQUIRE(late->next_containing("recording_started"));
  late->send_binary("abc");
  std::this_thread::sleep_for(2100ms);  // past the configured 2 s limit, on purpose
  late->send_binary("def");
  CHECK(error_message(*late) == "Recording duration exceeds limit (2 seconds)");
  const auto slow = d.wait_finished("slow");
  CHECK(slow.stop_reason == core::StopReason::automatic_limit);
  CHECK(read_file(d.dir.path() / slow.files[0].path) == "abc");
}

TEST_CASE("progress after every 100th chunk - binary frames count as audio chunks", "[daemon][action][seed002]") {
  RunningDaemon d;
  auto c = d.connect("/ws/progress");
  c->send_text(R"({"action": "start", "format": "wav"})");
  REQUIRE(c->next_containing("recording_started"));
  for (int i = 0; i < 200; ++i) {
    if (i % 2 == 0) c->send_binary(std::string(65536, 'a'));
    else c->send_text(R"({"action": "audio_chunk", "data": ")" + base64(std::string(65536, 'a')) + "\"}");
  }
  auto first = c->next_containing("progress");
  REQUIRE(first);
  CHECK(parse_json(*first)["chunks_received"].GetUint64() == 100);
  CHECK(parse_json(*first)["total_size_mb"].GetDouble() == Approx(6.25));
  auto second = c->next_containing("progress");
  REQUIRE(second);
  CHECK(parse_json(*second)["chunks_received"].GetUint64() == 200);
  CHECK(parse_json(*second)["total_size_mb"].GetDouble() == Approx(12.5));
}

TEST_CASE("a session's later recordings get ids of their own - a dropped one is finalized after grace",
          "[daemon][action]") {
  RunningDaemon d;
  auto c = d.connect("/ws/lecture");
  for (int n = 0; n < 2; ++n) {
    c->send_text(R"({"action": "start", "format": "wav"})");
    REQUIRE(c->next_containing("recording_started"));
    c->send_binary("take " + std::to_string(n));
    c->send_text(R"({"action": "stop"})");
    REQUIRE(c->next_containing("processing_started"));
  }
  CHECK(read_file(d.dir.path() / d.wait_finished("lecture").files[0].path) == "take 0");
  CHECK(read_file(d.dir.path() / d.wait_finished("lecture-2").files[0].path) == "take 1");

  c->send_text(R"({"action": "start", "format": "wav"})");
  REQUIRE(c->next_containing("recording_started"));
  c->send_binary("interrupted take");
  c->drop();
  const auto r = d.wait_finished("lecture-3");
  CHECK(r.stop_reason == core::StopReason::disconnect);
  CHECK(read_file(d.dir.path() / r.files[0].path) == "interrupted take");
}
