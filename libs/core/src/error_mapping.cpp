#include "recorder/core/app/error_mapping.hpp"

namespace recorder::core {

int http_status(Errc code) {
  switch (code) {
    case Errc::invalid_argument:
    case Errc::index_out_of_range: return 400;
    case Errc::not_found: return 404;
    case Errc::not_started:
    case Errc::invalid_state:
    case Errc::id_taken:
    case Errc::agent_unavailable:  // the agent is not connected: a conflict with its state, not ours
    case Errc::lease_lost:  // another instance holds the recording: a conflict with its owner
    case Errc::device_busy: return 409;
    case Errc::chunk_too_large:
    case Errc::total_size_exceeded:
    case Errc::duration_exceeded: return 413;
    case Errc::unauthenticated: return 401;
    case Errc::forbidden: return 403;
    case Errc::storage_low:
    case Errc::storage_full: return 507;
    case Errc::storage_critical:  // nothing new starts: the service is unavailable for it
    case Errc::storage_unavailable:
    case Errc::unavailable: return 503;
    case Errc::io_error:
    case Errc::internal: return 500;
  }
  return 500;
}

int rpc_code(Errc code) {
  switch (code) {
    case Errc::device_busy: return -1006;
    case Errc::storage_low: return -1008;
    case Errc::storage_critical:
    case Errc::storage_full: return -1010;
    case Errc::storage_unavailable: return -1005;
    case Errc::invalid_argument:
    case Errc::index_out_of_range:
    case Errc::chunk_too_large:
    case Errc::total_size_exceeded:
    case Errc::duration_exceeded: return -32602;  // invalid params
    case Errc::not_found:
    case Errc::not_started:
    case Errc::invalid_state:
    case Errc::id_taken:
    case Errc::agent_unavailable:
    case Errc::unavailable:
    case Errc::lease_lost:
    case Errc::unauthenticated:
    case Errc::forbidden:
    case Errc::io_error:
    case Errc::internal: return -32603;  // internal error, with the message saying which
  }
  return -32603;
}

}  // namespace recorder::core
