// The REST API under load with many recordings in the store: recorderd in-process (the
// daemon library) on SQLite or Postgres, seeded with N finished recordings, then C client
// threads (libcurl; recorderd closes each HTTP connection after its answer) for S seconds
// each, three ways:
//   baseline  GET /healthz                 the HTTP stack alone (no store, no token check)
//   list      GET /api/recordings?limit=100 (a page of 100, newest first, with signed URLs)
//   show      GET /api/recordings/{id}     (a random one of the N)
// Prints requests/s and latency percentiles for each, the ratio to the baseline, the store's
// own time for the same list query (the repository called directly), and peak RSS.
//
//   rest_bench [--recordings 100000] [--clients 50] [--seconds 10] [--postgres-url URL]

#include <curl/curl.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "daemon.hpp"
#include "http_hammer.hpp"
#include "recorder/adapters/postgres/postgres_repository.hpp"
#include "recorder/adapters/sqlite/sqlite_repository.hpp"
#include "recorder/core/app/config.hpp"

using namespace recorder;
using Clock = std::chrono::steady_clock;
using recorder::bench::Figures;
using recorder::bench::hammer;
namespace fs = std::filesystem;

namespace {

struct Args {
  std::size_t recordings = 100000;
  int clients = 50;
  double seconds = 10;
  std::string postgres_url;
};

core::Recording finished(std::size_t i) {
  core::Recording r;
  r.id = fmt::format("bench-{:08}", i);
  r.kind = core::SourceKind::stream;
  r.meta.mime_type = "video/webm";
  r.meta.owner = "bench";
  r.state = core::State::ready;
  r.outcome = core::Outcome::completed;
  r.stop_reason = core::StopReason::manual;
  r.created_at = core::WallTime{std::chrono::seconds{1'700'000'000}} + std::chrono::seconds{static_cast<long>(i)};
  r.started_at = r.created_at;
  r.stopped_at = r.created_at + std::chrono::seconds{60};
  r.finalized_at = r.stopped_at;
  r.ledger.add(0, 65536);
  r.files = {core::MediaFile{"recordings/" + r.id + "/original.webm", core::FileRole::original, 65536, 60.0}};
  r.duration_seconds = 60.0;
  return r;
}

long peak_rss_mib() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const std::string v = argv[i + 1];
    if (k == "--recordings") a.recordings = std::stoul(v);
    else if (k == "--clients") a.clients = std::stoi(v);
    else if (k == "--seconds") a.seconds = std::stod(v);
    else if (k == "--postgres-url") a.postgres_url = v;
    else {
      fmt::print(stderr, "unknown option {}\n", k);
      return 2;
    }
  }
  curl_global_init(CURL_GLOBAL_ALL);
  const fs::path dir = fs::temp_directory_path() / fmt::format("recorderd-rest-bench-{}", ::getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string store = a.postgres_url.empty() ? "sqlite" : "postgres";

  // Seed the store through the repository, as the service would have written it.
  const auto seed_start = Clock::now();
  std::unique_ptr<core::RecordingRepository> repo;
  if (a.postgres_url.empty()) {
    auto r = adapters::sqlite::SqliteRepository::open(dir / "recorderd.db");
    if (!r) return fmt::print(stderr, "{}\n", r.error().message), 1;
    repo = std::move(*r);
  } else {
    auto pg = std::make_unique<adapters::postgres::PostgresRepository>(a.postgres_url);
    if (auto c = pg->connect(); !c) return fmt::print(stderr, "{}\n", c.error().message), 1;
    repo = std::move(pg);
  }
  for (std::size_t i = 0; i < a.recordings; ++i) {
    if (auto saved = repo->save(finished(i), {}, {}); !saved) return fmt::print(stderr, "{}\n", saved.error().message), 1;
  }
  const double seed_seconds = std::chrono::duration<double>(Clock::now() - seed_start).count();

  // The store's own time for the list query the API runs (one client, the repository).
  core::RecordingQuery page;
  page.limit = 101;
  std::vector<double> store_ms;
  for (int i = 0; i < 200; ++i) {
    const auto t0 = Clock::now();
    if (!repo->list(page)) return 1;
    store_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  std::ranges::sort(store_ms);
  repo.reset();

  core::ConfigBuilder b;
  (void)b.set("server.listen", "127.0.0.1:0", "bench");
  (void)b.set("server.data_dir", dir.string(), "bench");
  (void)b.set("log.level", "warn", "bench");
  if (!a.postgres_url.empty()) {
    (void)b.set("store.backend", "postgres", "bench");
    (void)b.set("store.postgres_url", a.postgres_url, "bench");
  }
  auto config = b.build();
  if (!config) return fmt::print(stderr, "{}\n", config.error().message), 1;
  auto daemon = app::Daemon::start(*config);
  if (!daemon) return fmt::print(stderr, "{}\n", daemon.error().message), 1;
  const int port = (*daemon)->port();
  std::ifstream token_file(dir / "admin.token");
  std::string token;
  std::getline(token_file, token);

  fmt::print("rest_bench: {} recordings in {} (seeded in {:.1f} s), {} clients, {:.0f} s each\n",
             a.recordings, store, seed_seconds, a.clients, a.seconds);
  fmt::print("store alone, list of 101 newest, 1 client: p50 {:.2f} ms, p99 {:.2f} ms\n",
             store_ms[store_ms.size() / 2], store_ms[store_ms.size() * 99 / 100]);
  auto base = hammer(port, token, a.clients, a.seconds, [](auto&) { return std::string("/healthz"); });
  auto list = hammer(port, token, a.clients, a.seconds, [](auto&) { return std::string("/api/recordings?limit=100"); });
  auto show = hammer(port, token, a.clients, a.seconds, [&](std::mt19937_64& rng) {
    return fmt::format("/api/recordings/bench-{:08}", rng() % a.recordings);
  });
  fmt::print("{:<40} {:>10} {:>9} {:>9} {:>9} {:>7} {:>16}\n", "request", "req/s", "p50 ms", "p99 ms", "max ms",
             "errors", "p99 / baseline");
  const double base_p99 = base.percentile(0.99);
  for (const auto& [name, f] : {std::pair<const char*, Figures*>{"GET /healthz (baseline)", &base},
                          std::pair<const char*, Figures*>{"GET /api/recordings?limit=100", &list},
                          std::pair<const char*, Figures*>{"GET /api/recordings/{id}", &show}}) {
    const double p99 = f->percentile(0.99);
    fmt::print("{:<40} {:>10.0f} {:>9.2f} {:>9.2f} {:>9.2f} {:>7} {:>15.1f}x\n", name,
               static_cast<double>(f->requests) / f->seconds, f->percentile(0.5), p99, f->percentile(1.0), f->errors,
               p99 / base_p99);
  }
  fmt::print("peak RSS of the process (daemon and clients): {} MiB\n", peak_rss_mib());
  (*daemon)->stop();
  daemon->reset();
  fs::remove_all(dir);
  curl_global_cleanup();
  return (list.errors + show.errors + base.errors) == 0 ? 0 : 1;
}
