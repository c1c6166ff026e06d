#pragma once

// HTTP load for the benchmarks: client threads, each with its own libcurl handle, send GET
// requests with a bearer token until told to stop, and keep every latency.

#include <curl/curl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

namespace recorder::bench {

inline std::size_t write_back(char*, std::size_t size, std::size_t n, void* out) {
  *static_cast<std::size_t*>(out) += size * n;
  return size * n;
}

struct Figures {
  std::uint64_t requests = 0;
  std::uint64_t errors = 0;
  double seconds = 0;
  std::vector<double> latencies_ms;
  double percentile(double p) {
    if (latencies_ms.empty()) return 0;
    std::ranges::sort(latencies_ms);
    return latencies_ms[std::min(latencies_ms.size() - 1, static_cast<std::size_t>(p * static_cast<double>(latencies_ms.size())))];
  }
};

// `clients` threads, each with its own curl handle, GET path_of(rng) until `done()`: as fast
// as they are answered, or, with `rate` > 0, `rate` requests a second in all (each client
// sends on its own fixed schedule; a late answer delays only that client's next request).
template <typename PathOf, typename Done>
Figures hammer_until(int port, const std::string& token, int clients, PathOf path_of, Done done, double rate = 0) {
  std::vector<Figures> per(static_cast<std::size_t>(clients));
  std::vector<std::thread> threads;
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      // The load, not the measurement: these threads yield the CPU to whatever the
      // benchmark times in the same process (ws_load's WebSocket client).
      (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 19);
      Figures& f = per[static_cast<std::size_t>(c)];
      std::mt19937_64 rng(static_cast<std::uint64_t>(c) * 7919 + 1);
      CURL* curl = curl_easy_init();
      std::size_t received = 0;
      curl_slist* headers = curl_slist_append(nullptr, ("Authorization: Bearer " + token).c_str());
      curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
      curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_back);
      curl_easy_setopt(curl, CURLOPT_WRITEDATA, &received);
      const auto interval = std::chrono::duration_cast<Clock::duration>(
          std::chrono::duration<double>(rate > 0 ? clients / rate : 0.0));
      // Spread the clients' schedules over one interval so that they do not send in bursts.
      auto next = start + interval * c / clients;
      while (!done()) {
        if (rate > 0) {
          std::this_thread::sleep_until(next);
          next += interval;
          if (done()) break;
        }
        const std::string url = fmt::format("http://127.0.0.1:{}{}", port, path_of(rng));
        curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
        const auto t0 = Clock::now();
        const CURLcode rc = curl_easy_perform(curl);
        long status = 0;
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        f.latencies_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        ++f.requests;
        if (rc != CURLE_OK || status != 200) {
          ++f.errors;
          if (f.errors == 1) fmt::print(stderr, "rest_bench: {}: {} (HTTP {})\n", url, curl_easy_strerror(rc), status);
        }
      }
      curl_slist_free_all(headers);
      curl_easy_cleanup(curl);
    });
  }
  for (auto& t : threads) t.join();
  Figures all;
  all.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  for (auto& f : per) {
    all.requests += f.requests;
    all.errors += f.errors;
    all.latencies_ms.insert(all.latencies_ms.end(), f.latencies_ms.begin(), f.latencies_ms.end());
  }
  return all;
}

// The same for `seconds`.
template <typename PathOf>
Figures hammer(int port, const std::string& token, int clients, double seconds, PathOf path_of) {
  const auto until = std::chrono::steady_clock::now() +
                     std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(seconds));
  return hammer_until(port, token, clients, path_of, [until] { return std::chrono::steady_clock::now() >= until; });
}

}  // namespace recorder::bench
