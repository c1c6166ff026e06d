#pragma once

// Read-only looks at a store's SQLite file from a test, as an admin with sqlite3 would;
// the daemon may be running (WAL lets a reader in beside it).

#include <sqlite3.h>

#include <catch2/catch.hpp>

#include <filesystem>
#include <set>
#include <string>

namespace recorder::testing {

// The first column of every row `sql` returns, as text.
inline std::set<std::string> sql_strings(const std::filesystem::path& db, const std::string& sql) {
  sqlite3* h = nullptr;
  std::set<std::string> out;
  REQUIRE(sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_busy_timeout(h, 5000);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(h, sql.c_str(), -1, &st, nullptr) == SQLITE_OK);
  int rc = SQLITE_ROW;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) out.emplace(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
  sqlite3_finalize(st);
  sqlite3_close(h);
  REQUIRE(rc == SQLITE_DONE);
  return out;
}

// The ids of the outbox's notices that `subscriber` has not been handed (marked) yet.
inline std::string undelivered_to(const std::string& subscriber) {
  return "SELECT id FROM outbox o WHERE NOT EXISTS (SELECT 1 FROM outbox_deliveries d WHERE d.seq = o.seq AND "
         "d.subscriber = '" + subscriber + "')";
}

// The ids of the outbox's notices marked delivered to `subscriber`.
inline std::string delivered_to(const std::string& subscriber) {
  return "SELECT o.id FROM outbox o JOIN outbox_deliveries d ON d.seq = o.seq AND d.subscriber = '" + subscriber + "'";
}

}  // namespace recorder::testing
