#pragma once

#include <optional>
#include <string>

#include "recorder/core/app/recording_service.hpp"
#include "recorder/core/ports/clock.hpp"
#include "recorder/core/ports/hook_receipts.hpp"

namespace recorder::core {

// One inbound webhook (seed 004's direction: an external recorder reports on a recording),
// already verified by its signature.
struct InboundHook {
  std::string webhook_id;  // the sender's id: a repeat is taken once
  std::string type;        // "recording.complete" or "recording.failed"
  std::string recording;   // recording_id, else session_id
  UploadedVideo video;     // complete: video_url (required) and file_size
  std::string error;       // failed: what went wrong (required)
};

struct InboundOutcome {
  std::optional<Recording> recording;  // as it is now (a repeat whose recording is gone: none)
  bool repeat = false;                 // the webhook-id was taken before: nothing changed
};

// Takes inbound webhooks: recording.complete attaches the uploaded video to the agent
// recording it names, recording.failed fails it with the given error. Idempotent on the
// webhook-id (a repeat changes nothing); the id is remembered only after the change was
// saved, so a crash in between makes the sender's retry apply it again, which is harmless
// (the same video, or an already failed recording, is unchanged). Any thread.
class InboundHooks {
 public:
  InboundHooks(RecordingService& service, HookReceipts& receipts, const Clock& clock)
      : service_(service), receipts_(receipts), clock_(clock) {}

  [[nodiscard]] Result<InboundOutcome> take(const InboundHook& hook);

 private:
  RecordingService& service_;
  HookReceipts& receipts_;
  const Clock& clock_;
};

}  // namespace recorder::core
