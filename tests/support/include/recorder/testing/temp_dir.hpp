#pragma once

#include <filesystem>
#include <random>
#include <string>

namespace recorder::testing {

// A fresh directory under the system's temp directory, removed with everything in it.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "recorder-test") {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() / (prefix + "-" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace recorder::testing
