#include "recorder/core/app/inbound_hooks.hpp"

#include <fmt/format.h>

namespace recorder::core {

Result<InboundOutcome> InboundHooks::take(const InboundHook& hook) {
  if (hook.webhook_id.empty()) return fail(Errc::invalid_argument, "webhook-id: required");
  if (hook.type != "recording.complete" && hook.type != "recording.failed")
    return fail(Errc::invalid_argument,
                fmt::format("type: '{}' is not taken here; expected recording.complete or recording.failed",
                            hook.type.substr(0, 64)));
  if (hook.recording.empty()) return fail(Errc::invalid_argument, "data.recording_id (or data.session_id): required");
  if (hook.type == "recording.complete" && hook.video.url.empty())
    return fail(Errc::invalid_argument, "data.video_url: required for recording.complete");
  if (hook.type == "recording.failed" && hook.error.empty())
    return fail(Errc::invalid_argument, "data.error: required for recording.failed");

  auto taken = receipts_.hook_taken(hook.webhook_id);
  if (!taken) return std::unexpected(taken.error());
  if (*taken) {
    auto now = service_.resolve(hook.recording);
    return InboundOutcome{now ? std::optional<Recording>(std::move(*now)) : std::nullopt, true};
  }
  auto target = service_.resolve(hook.recording);
  if (!target) return std::unexpected(target.error());
  auto changed = hook.type == "recording.complete" ? service_.attach_video(target->id, hook.video)
                                                   : service_.fail_upload(target->id, hook.error);
  if (!changed) return std::unexpected(changed.error());
  if (auto kept = receipts_.take_hook(hook.webhook_id, hook.type, target->id, clock_.wall_now()); !kept)
    return std::unexpected(kept.error());  // applied, not remembered: the sender's retry is harmless
  return InboundOutcome{std::move(*changed), false};
}

}  // namespace recorder::core
