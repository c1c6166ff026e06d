#pragma once

#include <functional>
#include <optional>
#include <vector>

#include "recorder/core/domain/error.hpp"
#include "recorder/core/domain/recording.hpp"

namespace recorder::core {

struct FinalizeResult {
  std::vector<MediaFile> files;
  std::optional<double> duration_seconds;  // probed, when known
  bool needs_processing = false;           // a conversion or remux follows (process())

  bool operator==(const FinalizeResult&) const = default;
};

// Turns what was recorded into files that play: merges a stream's chunks, closes capture
// segments, converts to the requested format. Work runs off the caller's thread; `done`
// is called exactly once, from another thread, never before finalize()/process() returns.
class MediaFinalizer {
 public:
  using Done = std::function<void(Result<FinalizeResult>)>;
  virtual ~MediaFinalizer() = default;
  // The original, as fast as possible (an in-order stream is not copied).
  virtual void finalize(const Recording& r, Done done) = 0;
  // Conversion or remux after finalize; the original stays.
  virtual void process(const Recording& r, Done done) = 0;
  // Deletes the recording's files (admin delete only).
  [[nodiscard]] virtual Result<void> remove(const Recording& r) = 0;
};

}  // namespace recorder::core
