#pragma once

#include <string>

namespace recorder::core {

// Unique ids for recordings, events and alerts. Any thread.
class IdGenerator {
 public:
  virtual ~IdGenerator() = default;
  virtual std::string next() = 0;
};

}  // namespace recorder::core
