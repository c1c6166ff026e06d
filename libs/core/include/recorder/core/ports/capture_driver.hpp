#pragma once

#include "recorder/core/domain/recording.hpp"

namespace recorder::core {

// Records devices, URLs and test sources (GStreamer). Calls return at once (they are made
// with the recording's own lock held); what happens next is reported from the driver's own
// thread through RecordingService's on_capture_* / on_segment_* methods (started, start
// failed, segment opened, segment closed, stopped, failed).
class CaptureDriver {
 public:
  virtual ~CaptureDriver() = default;
  virtual void start(const Recording& r) = 0;
  // Ends the recording cleanly (EOS) so that the last segment is finalized.
  virtual void stop(const RecordingId& id) = 0;
  // Closes the current segment and opens the next one, losing no frames.
  virtual void rotate(const RecordingId& id) = 0;
};

}  // namespace recorder::core
