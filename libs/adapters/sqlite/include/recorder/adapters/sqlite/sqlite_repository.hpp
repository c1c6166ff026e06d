#pragma once

#include <filesystem>
#include <memory>
#include <mutex>

#include "recorder/core/ports/recording_repository.hpp"

struct sqlite3;

namespace recorder::adapters::sqlite {

// The embedded default store: one SQLite file in WAL mode with synchronous=FULL, so a
// committed transition survives a crash. Migrations run when it opens. Thread-safe (one
// connection behind a mutex).
class SqliteRepository final : public core::RecordingRepository {
 public:
  // Opens (creating if needed) and migrates the database at `path`.
  static core::Result<std::unique_ptr<SqliteRepository>> open(const std::filesystem::path& path);
  ~SqliteRepository() override;
  SqliteRepository(const SqliteRepository&) = delete;
  SqliteRepository& operator=(const SqliteRepository&) = delete;

  // Port
  core::Result<void> save(const core::Recording& r, std::span<const core::RecordingEvent> events) override;
  core::Result<std::optional<core::Recording>> find(const core::RecordingId& id) override;
  core::Result<std::optional<core::Recording>> find_by_agent_key(const std::string& key) override;
  core::Result<std::vector<core::Recording>> find_unfinished() override;
  core::Result<std::vector<core::Recording>> list(const core::RecordingQuery& q) override;
  core::Result<std::vector<core::RecordingEvent>> events(const core::RecordingId& id) override;

  int schema_version();

 private:
  explicit SqliteRepository(sqlite3* db);
  core::Result<void> migrate();

  std::mutex mutex_;
  sqlite3* db_;
};

}  // namespace recorder::adapters::sqlite
