#pragma once

#include <cstdint>

#include "recorder/core/domain/types.hpp"

namespace recorder::core {

// Back-off between attempts to start a producer (seed 004: 3 tries, 5 s apart).
struct RetryPolicy {
  std::uint32_t max_attempts = 3;
  Duration initial_delay = Seconds{5};
  double multiplier = 2.0;
  Duration max_delay = Seconds{60};

  // Delay before attempt `attempt + 1`, after `attempt` (>= 1) failures.
  Duration delay_after(std::uint32_t attempt) const;

  bool operator==(const RetryPolicy&) const = default;
};

// The tunables of the lifecycle rules. Defaults are the seeds'; see docs/operations.md.
struct Rules {
  Seconds hard_limit{10800};           // seed 000: no recording runs longer than 3 h
  Seconds stale_after{60};             // seed 000: an agent silent this long is stale
  Seconds stale_give_up{1800};         // a stale agent recording silent this much longer fails (reason stale)
  Seconds premature_threshold{60};     // seed 000: manual stop this far short is "early"
  Seconds grace{5};                    // seed 001: wait for a dropped stream client
  Duration stop_timeout = Seconds{30}; // wait for a producer to confirm a stop
  Duration start_timeout = Seconds{30};// wait for a producer to confirm a start
  Duration rotation = Seconds{1800};   // seed 003: capture segment length
  RetryPolicy start_retry;

  bool operator==(const Rules&) const = default;
};

}  // namespace recorder::core
