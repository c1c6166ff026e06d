#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "recorder/core/domain/error.hpp"
#include "recorder/core/domain/recording.hpp"
#include "recorder/core/domain/state_machine.hpp"
#include "recorder/core/ports/outbox.hpp"

namespace recorder::core {

// One line of the append-only event log of a recording.
struct RecordingEvent {
  RecordingId recording_id;
  WallTime at;
  Transition transition;
};

// Where a page of a list ended: the last recording it held. Lists are newest first by
// (created_at, id), so a page that starts after a cursor is stable while recordings are
// added (they are newer than every cursor).
struct RecordingCursor {
  WallTime created_at;
  RecordingId id;
  friend bool operator==(const RecordingCursor&, const RecordingCursor&) = default;
};

struct RecordingQuery {
  std::optional<State> state;
  bool finished = false;  // only those that ended ready or failed (not live, not deleted)
  std::optional<SourceKind> kind;
  std::optional<std::string> device;
  std::optional<std::string> agent_id;
  std::optional<std::string> organizer;
  std::optional<std::string> session_id;
  std::optional<WallTime> created_since;  // created at or after
  std::optional<WallTime> created_until;  // created before
  std::optional<RecordingCursor> after;   // the page after this one
  std::size_t limit = 100;
};

// Where recordings and their event log live (SQLite by default, Postgres in production).
// Failures are values (Errc::unavailable when the database is down). Called from the
// service with no lock held that spans recordings, from any thread; implementations
// may block on I/O.
class RecordingRepository {
 public:
  virtual ~RecordingRepository() = default;
  // Inserts or updates the recording, appends its new event-log lines and the notices the
  // change caused to the outbox, in one transaction: all of them are saved or none is.
  [[nodiscard]] virtual Result<void> save(const Recording& r, std::span<const RecordingEvent> events,
                                          std::span<const NoticeBody> notices) = 0;
  [[nodiscard]] virtual Result<std::optional<Recording>> find(const RecordingId& id) = 0;
  // seed 000's key organizer:subject:start_time; the newest live one, else the newest.
  [[nodiscard]] virtual Result<std::optional<Recording>> find_by_agent_key(const std::string& key) = 0;
  // Every recording not in a terminal state, oldest first, for recovery after a restart.
  [[nodiscard]] virtual Result<std::vector<Recording>> find_unfinished() = 0;
  [[nodiscard]] virtual Result<std::vector<Recording>> list(const RecordingQuery& q) = 0;
  [[nodiscard]] virtual Result<std::vector<RecordingEvent>> events(const RecordingId& id) = 0;
  // Whether the database answers now (readiness); cheap.
  [[nodiscard]] virtual Result<void> ping() = 0;
};

}  // namespace recorder::core
