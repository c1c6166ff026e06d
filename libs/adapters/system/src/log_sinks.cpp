#include "recorder/adapters/system/log_sinks.hpp"

#include "recorder/adapters/system/log.hpp"

namespace recorder::adapters::system {

void LogAlertSink::alert(const core::Alert& a) {
  const LogLevel level = a.severity == core::Severity::critical ? LogLevel::error
                         : a.severity == core::Severity::warning ? LogLevel::warn
                                                                 : LogLevel::info;
  log(level, "msg=\"alert\" severity={} recording={} alert_id={} text={}", core::to_string(a.severity),
      a.recording_id.value_or("-"), a.id, quote_value(a.message));
}

void LogEventPublisher::publish(const core::RecordingNotice& n) {
  const core::Recording& r = n.recording;
  log(LogLevel::info, "msg={} recording={} kind={} state={} reason={} status={} chunks={} bytes={}{}",
      quote_value(core::to_string(n.notice)), quote_value(r.id), core::to_string(r.kind), core::to_string(r.state),
      core::to_string(r.stop_reason), core::to_string(r.outcome), r.ledger.chunk_count(), r.ledger.total_bytes(),
      r.error.empty() ? std::string{} : " error=" + quote_value(r.error));
}

void LogEventPublisher::publish(const core::StorageNotice& n) {
  log(n.level == core::StorageLevel::normal ? LogLevel::info : LogLevel::warn,
      "msg=\"storage.level\" level={} used_percent={:.1f}", core::to_string(n.level), n.used_percent);
}

}  // namespace recorder::adapters::system
