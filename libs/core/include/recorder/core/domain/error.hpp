#pragma once

#include <expected>
#include <optional>
#include <string>
#include <string_view>

namespace recorder::core {

// Every expected failure in recorderd is one of these. Adapters map them to each dialect's
// codes and messages (app/error_mapping.hpp); see docs/adr/0002-errors-as-values.md.
enum class Errc {
  invalid_argument,     // the request itself is malformed (empty chunk, bad format, ...)
  not_found,            // no recording with that id or key
  not_started,          // media or a stop for a recording that was never started
  invalid_state,        // the recording cannot do this now (chunk after stop, ...)
  id_taken,             // a new recording was asked for with the id of one that has ended
  device_busy,          // one active recording per device or source (-1006)
  storage_low,          // free space is below the warn threshold and the start cannot be honoured (-1008)
  storage_critical,     // at or above the block threshold: nothing new starts (-1010)
  storage_unavailable,  // disk use cannot be measured (-1005)
  chunk_too_large,      // one chunk over the dialect's limit
  total_size_exceeded,  // the recording reached its total size limit
  duration_exceeded,    // the recording reached its duration limit
  index_out_of_range,   // a chunk index too far ahead of the ledger
  storage_full,         // ENOSPC while writing: the chunk was not stored
  io_error,             // EIO or another write failure: the chunk was not stored
  agent_unavailable,    // the agent that must be commanded is not connected
  unavailable,          // a dependency (database) is down; retry later
  lease_lost,           // another recorderd instance holds the recording now (cluster)
  unauthenticated,      // no credentials, or ones nobody issued (a bad or revoked token)
  forbidden,            // the caller is known but its role does not allow this
  internal,             // a bug; the process keeps the data it has
};

std::string_view to_string(Errc code);
std::optional<Errc> parse_errc(std::string_view name);  // to_string's inverse

struct Error {
  Errc code;
  std::string message;  // names what was wrong, in words a person can act on
  std::string related_id;  // for device_busy: the session already recording on the device

  bool operator==(const Error&) const = default;
};

template <typename T>
using Result = std::expected<T, Error>;

// Result<void> success value: `return ok();`
inline Result<void> ok() { return {}; }

inline std::unexpected<Error> fail(Errc code, std::string message, std::string related_id = {}) {
  return std::unexpected(Error{code, std::move(message), std::move(related_id)});
}

}  // namespace recorder::core
