#pragma once

#include <mutex>
#include <random>

#include "recorder/core/ports/id_generator.hpp"

namespace recorder::adapters::system {

// Random version-4 UUIDs from a generator seeded by std::random_device.
class RandomIdGenerator final : public core::IdGenerator {
 public:
  RandomIdGenerator();
  // Port
  std::string next() override;

 private:
  std::mutex mutex_;
  std::mt19937_64 engine_;
};

}  // namespace recorder::adapters::system
