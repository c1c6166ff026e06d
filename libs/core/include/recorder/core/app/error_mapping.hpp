#pragma once

#include "recorder/core/domain/error.hpp"

namespace recorder::core {

// How each domain error travels on the wire; docs/adr/0002-errors-as-values.md has the
// table. Dialect-specific wording (seed 002's exact messages) stays in the dialect codec.

// HTTP status for REST answers.
int http_status(Errc code);

// JSON-RPC 2.0 error code (seed 003's -1006/-1008/-1010, else the standard -326xx range).
int rpc_code(Errc code);

}  // namespace recorder::core
