#pragma once

#include <optional>
#include <string>

#include "recorder/core/domain/recording.hpp"
#include "recorder/core/ports/outbox.hpp"

namespace recorder::core {

// A notice as a person reads it (Slack, e-mail): a one-line subject and a plain body that
// names the recording, its subject and organizer when known, the state, the reason and
// what to do.
struct NoticeText {
  std::string subject;
  std::string body;
};

// `recording` is the recording the notice is about, when there is one and it could be read
// (an alert carries only its id); `link` a signed URL of its file, or empty.
NoticeText describe(const NoticeBody& notice, const std::optional<Recording>& recording, const std::string& link);

}  // namespace recorder::core
