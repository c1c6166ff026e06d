#include "recorder/core/app/notice_text.hpp"

#include <cmath>

#include <fmt/format.h>

#include "recorder/core/domain/time_text.hpp"

namespace recorder::core {
namespace {

// "Recording r-1 ("Weekly sync", organizer a@example.org, room 4)".
std::string naming(const RecordingId& id, const std::optional<Recording>& r) {
  std::string out = fmt::format("Recording {}", id);
  if (!r) return out;
  std::string detail;
  const auto add = [&](const std::string& part) {
    if (!part.empty()) detail += (detail.empty() ? "" : ", ") + part;
  };
  if (!r->meta.subject.empty()) add(fmt::format("\"{}\"", r->meta.subject));
  if (!r->meta.organizer.empty()) add("organizer " + r->meta.organizer);
  if (!r->meta.device.empty()) add(fmt::format("{} {}", r->kind == SourceKind::agent ? "agent" : "device", r->meta.device));
  return detail.empty() ? out : fmt::format("{} ({})", out, detail);
}

std::string facts(const Recording& r, const std::string& link) {
  std::string out = fmt::format("State: {}", to_string(r.state));
  if (r.outcome != Outcome::recording) out += fmt::format("\nOutcome: {}", to_string(r.outcome));
  if (r.stop_reason != StopReason::none) out += fmt::format("\nStop reason: {}", to_string(r.stop_reason));
  if (r.started_at) out += fmt::format("\nStarted: {}", format_utc(*r.started_at));
  if (r.duration_seconds) out += fmt::format("\nDuration: {:.0f} min {:02.0f} s", std::floor(*r.duration_seconds / 60),
                                             std::fmod(*r.duration_seconds, 60.0));
  if (!r.error.empty()) out += fmt::format("\nError: {}", r.error);
  if (!link.empty()) out += fmt::format("\nDownload (signed, 24 hours): {}", link);
  return out;
}

// What a person should do about an alert, from what raised it and the recording's state.
std::string advice(const Alert& a, const std::optional<Recording>& r) {
  if (a.cause.starts_with("webhook:") || a.cause == "slack" || a.cause == "email")
    return "Check that the endpoint is reachable and answers 2xx; GET /api/webhooks shows its health. "
           "Notices not delivered are kept in recorderd's outbox.";
  if (a.cause.starts_with("hook:"))
    return "Check the program hooks.on_ready runs: run it by hand with the recording's files. The recording "
           "itself is ready and safe.";
  if (a.cause == "store")
    return "Check the database: the recording goes on in memory and is saved when the database is back.";
  if (a.cause == "storage")
    return "Free space on the data directory's disk, or move finished recordings away; at the block threshold "
           "nothing new starts.";
  if (r && r->state == State::stale)
    return "Check that the recorder agent is running and online; the recording ends as failed if it stays silent.";
  if (r && r->state == State::failed)
    return "Check the recorder (agent, camera or client) and recorderd's log; files already recorded are kept.";
  if (r && r->stop_reason == StopReason::premature)
    return "The recording stopped before its expected end: check the room's recorder and whether the meeting "
           "really ended early.";
  return "See recorderd's log for details (search for the alert id).";
}

}  // namespace

NoticeText describe(const NoticeBody& notice, const std::optional<Recording>& recording, const std::string& link) {
  if (const auto* n = std::get_if<RecordingNotice>(&notice)) {
    const Recording& r = recording ? *recording : n->recording;
    const std::string who = naming(r.id, r);
    switch (n->notice) {
      case Notice::ready:
        return {fmt::format("Recording ready: {}", r.meta.subject.empty() ? r.id : r.meta.subject),
                fmt::format("{} is ready.\n\n{}\n", who, facts(r, link))};
      case Notice::failed:
        return {fmt::format("Recording failed: {}", r.meta.subject.empty() ? r.id : r.meta.subject),
                fmt::format("{} failed.\n\n{}\n\nWhat to do: check the recorder (agent, camera or client) and "
                            "recorderd's log; files already recorded are kept.\n",
                            who, facts(r, link))};
      default:
        return {fmt::format("{}: {}", to_string(n->notice), r.meta.subject.empty() ? r.id : r.meta.subject),
                fmt::format("{}: {}.\n\n{}\n", who, to_string(n->notice), facts(r, link))};
    }
  }
  if (const auto* a = std::get_if<Alert>(&notice)) {
    const std::string severity(to_string(a->severity));
    std::string body = fmt::format("{} alert", severity);
    if (a->recording_id) body += " about " + naming(*a->recording_id, recording);
    body += fmt::format(":\n{}\n", a->message);
    if (recording) body += fmt::format("\n{}\n", facts(*recording, link));
    body += fmt::format("\nWhat to do: {}\n\nAlert {} at {}.\n", advice(*a, recording), a->id, format_utc(a->at));
    std::string first_line = a->message.substr(0, a->message.find('\n'));
    if (first_line.size() > 120) first_line = first_line.substr(0, 117) + "...";
    return {fmt::format("[{}] {}", severity, first_line), std::move(body)};
  }
  if (const auto* s = std::get_if<StorageNotice>(&notice)) {
    return {fmt::format("Storage {}: {:.1f}% used", to_string(s->level), s->used_percent),
            fmt::format("The data directory's disk is {:.1f}% used (level {}).\n\nWhat to do: free space or move "
                        "finished recordings away before the block threshold stops new recordings.\n",
                        s->used_percent, to_string(s->level))};
  }
  const auto& g = std::get<AgentNotice>(notice);
  return {fmt::format("Agent {} {}", g.agent_id, g.connected ? "connected" : "disconnected"),
          fmt::format("Recorder agent {} {} ({}).\n", g.agent_id, g.connected ? "connected" : "disconnected", g.detail)};
}

}  // namespace recorder::core
