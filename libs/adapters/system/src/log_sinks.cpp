#include "recorder/adapters/system/log_sinks.hpp"

#include "recorder/adapters/system/log.hpp"

namespace recorder::adapters::system {
namespace {

LogLevel level_of(core::Severity s) {
  return s == core::Severity::critical ? LogLevel::error : s == core::Severity::warning ? LogLevel::warn : LogLevel::info;
}

}  // namespace

core::Result<void> LogNoticeSubscriber::deliver(const core::OutboxEntry& entry) {
  const std::string& id = core::notice_id(entry.body);
  if (const auto* n = std::get_if<core::RecordingNotice>(&entry.body)) {
    const core::Recording& r = n->recording;
    log(LogLevel::info, "msg={} recording={} kind={} state={} reason={} status={} chunks={} bytes={} notice_id={}{}",
        quote_value(core::to_string(n->notice)), quote_value(r.id), core::to_string(r.kind), core::to_string(r.state),
        core::to_string(r.stop_reason), core::to_string(r.outcome), r.ledger.chunk_count(), r.ledger.total_bytes(), id,
        r.error.empty() ? std::string{} : " error=" + quote_value(r.error));
  } else if (const auto* s = std::get_if<core::StorageNotice>(&entry.body)) {
    log(s->level == core::StorageLevel::normal ? LogLevel::info : LogLevel::warn,
        "msg=\"storage.level\" level={} used_percent={:.1f} notice_id={}", core::to_string(s->level), s->used_percent,
        id);
  } else if (const auto* g = std::get_if<core::AgentNotice>(&entry.body)) {
    log(LogLevel::info, "msg=\"{}\" agent={} notice_id={} detail={}", core::notice_type(entry.body),
        quote_value(g->agent_id), id, quote_value(g->detail));
  } else {
    const auto& a = std::get<core::Alert>(entry.body);
    log(level_of(a.severity), "msg=\"alert\" severity={} recording={} alert_id={} text={}", core::to_string(a.severity),
        quote_value(a.recording_id.value_or("-")), id, quote_value(a.message));
  }
  return core::ok();
}

void LogOperatorLog::write(core::Severity severity, std::string_view message) {
  log(level_of(severity), "msg={}", quote_value(message));
}

}  // namespace recorder::adapters::system
