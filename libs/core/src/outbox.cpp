#include "recorder/core/ports/outbox.hpp"

#include <fmt/format.h>

namespace recorder::core {

const std::string& notice_id(const NoticeBody& n) {
  return std::visit([](const auto& v) -> const std::string& { return v.id; }, n);
}

WallTime notice_time(const NoticeBody& n) {
  return std::visit([](const auto& v) { return v.at; }, n);
}

std::string notice_type(const NoticeBody& n) {
  if (const auto* r = std::get_if<RecordingNotice>(&n)) return std::string(to_string(r->notice));
  if (const auto* s = std::get_if<StorageNotice>(&n)) {
    switch (s->level) {
      case StorageLevel::normal: return "storage.normal";
      case StorageLevel::warn: return "storage.warning";
      case StorageLevel::block: return "storage.critical";
    }
  }
  if (const auto* a = std::get_if<AgentNotice>(&n)) return a->connected ? "agent.connected" : "agent.disconnected";
  return fmt::format("alert.{}", to_string(std::get<Alert>(n).severity));
}

}  // namespace recorder::core
