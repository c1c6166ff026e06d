#pragma once

// Streams on /ws/record driven from one client thread (websocketpp), with every ack's
// latency: what ws_load and notify_load measure recorderd with.

#include <websocketpp/client.hpp>
#include <websocketpp/config/asio_no_tls_client.hpp>

#include <chrono>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

namespace recorder::bench {

using Client = websocketpp::client<websocketpp::config::asio_client>;
using Clock = std::chrono::steady_clock;

inline constexpr std::size_t kChunk = 64 * 1024;

struct Stream {
  websocketpp::connection_hdl hdl;
  std::string id;
  bool started = false;
  bool open = false;
  std::deque<Clock::time_point> inflight;
  std::uint64_t acked = 0;
};

// A short recording of scenario 4: start, one chunk, stop, recordingReady.
struct Churn {
  websocketpp::connection_hdl hdl;
  std::string id;
  Clock::time_point sent;
};

// Drives `count` streams against the server for `seconds`. `interval` zero: as fast as acks
// allow with `window` chunks in flight; else one chunk per stream per interval.
// `churn_per_s` short recordings a second start and stop meanwhile (scenario 4).
struct LoadFigures {
  double seconds = 0;
  std::uint64_t chunks = 0;
  std::vector<double> latency_ms;
  int connected = 0;
  std::uint64_t churned = 0;           // short recordings that reached recordingReady
  std::uint64_t churn_errors = 0;      // error or chunkError answers to them
  std::vector<double> churn_start_ms;  // start -> started
  std::vector<double> churn_stop_ms;   // stop -> recordingReady
};

inline LoadFigures drive(int port, int count, double seconds, std::chrono::milliseconds interval, std::size_t window,
                  const std::string& prefix, int churn_per_s = 0) {
  Client client;
  client.clear_access_channels(websocketpp::log::alevel::all);
  client.clear_error_channels(websocketpp::log::elevel::all);
  client.init_asio();
  std::vector<Stream> streams(static_cast<std::size_t>(count));
  const std::string payload(kChunk, 'p');
  LoadFigures f;
  bool running = true;
  const auto send_one = [&](Stream& s) {
    websocketpp::lib::error_code ec;
    s.inflight.push_back(Clock::now());
    client.send(s.hdl, payload, websocketpp::frame::opcode::binary, ec);
  };
  std::map<websocketpp::connection_hdl, std::size_t, std::owner_less<websocketpp::connection_hdl>> index;
  std::map<websocketpp::connection_hdl, Churn, std::owner_less<websocketpp::connection_hdl>> churns;
  client.set_open_handler([&](websocketpp::connection_hdl h) {
    if (auto c = churns.find(h); c != churns.end()) {
      websocketpp::lib::error_code ec;
      c->second.sent = Clock::now();
      client.send(h, R"({"event":"start","data":{"recordId":")" + c->second.id + R"("}})",
                  websocketpp::frame::opcode::text, ec);
      return;
    }
    Stream& s = streams[index[h]];
    s.open = true;
    websocketpp::lib::error_code ec;
    client.send(h, R"({"event":"start","data":{"recordId":")" + s.id + R"("}})", websocketpp::frame::opcode::text, ec);
  });
  const auto ms_since = [](Clock::time_point t) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
  };
  // One short recording's next step, on its own connection.
  const auto churn_message = [&](Churn& c, const std::string& text) {
    websocketpp::lib::error_code ec;
    if (text.find("\"started\"") != std::string::npos) {
      if (running) f.churn_start_ms.push_back(ms_since(c.sent));
      client.send(c.hdl, payload, websocketpp::frame::opcode::binary, ec);
    } else if (text.find("chunkAck") != std::string::npos) {
      c.sent = Clock::now();
      client.send(c.hdl, R"({"event":"stop","data":{"recordId":")" + c.id + R"("}})",
                  websocketpp::frame::opcode::text, ec);
    } else if (text.find("recordingReady") != std::string::npos) {
      if (running) {
        f.churn_stop_ms.push_back(ms_since(c.sent));
        ++f.churned;
      }
      client.close(c.hdl, websocketpp::close::status::normal, "done", ec);
    } else if (text.find("rror") != std::string::npos) {
      ++f.churn_errors;
    }
  };
  client.set_message_handler([&](websocketpp::connection_hdl h, Client::message_ptr m) {
    if (auto c = churns.find(h); c != churns.end()) return churn_message(c->second, m->get_payload());
    Stream& s = streams[index[h]];
    const std::string& text = m->get_payload();
    if (text.find("chunkAck") != std::string::npos && !s.inflight.empty()) {
      f.latency_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - s.inflight.front()).count());
      s.inflight.pop_front();
      ++s.acked;
      ++f.chunks;
      if (running && interval.count() == 0) send_one(s);
    } else if (text.find("\"started\"") != std::string::npos) {
      s.started = true;
      ++f.connected;
      if (interval.count() == 0)
        for (std::size_t i = 0; i < window; ++i) send_one(s);
    }
  });
  for (int i = 0; i < count; ++i) {
    websocketpp::lib::error_code ec;
    auto con = client.get_connection(fmt::format("ws://127.0.0.1:{}/ws/record", port), ec);
    if (ec) throw std::runtime_error(ec.message());
    streams[static_cast<std::size_t>(i)].hdl = con->get_handle();
    streams[static_cast<std::size_t>(i)].id = fmt::format("{}-{}", prefix, i);
    index[con->get_handle()] = static_cast<std::size_t>(i);
    client.connect(con);
  }
  std::thread io([&] { client.run(); });
  // Wait until every stream has started, then measure.
  const auto ready_until = Clock::now() + std::chrono::seconds(60);
  while (Clock::now() < ready_until) {
    int started = 0;
    asio::post(client.get_io_service(), [&] { started = f.connected; });
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (started >= count) break;
  }
  asio::steady_timer ticker(client.get_io_service());
  std::function<void()> tick;
  std::size_t next = 0;
  if (interval.count() > 0) {
    // Spread the streams evenly over each interval.
    const auto step = interval / std::max(count, 1);
    tick = [&, step] {  // step by value: it ends with this block
      if (!running) return;
      Stream& s = streams[next++ % streams.size()];
      if (s.started) send_one(s);
      ticker.expires_after(std::max<std::chrono::nanoseconds>(step, std::chrono::microseconds(100)));
      ticker.async_wait([&](const asio::error_code& e) {
        if (!e) tick();
      });
    };
    asio::post(client.get_io_service(), tick);
  }
  asio::steady_timer churn_timer(client.get_io_service());
  std::function<void()> churn_tick;
  std::uint64_t churn_next = 0;
  if (churn_per_s > 0) {
    const auto every = std::chrono::microseconds(1'000'000 / churn_per_s);
    churn_tick = [&, every] {
      if (!running) return;
      websocketpp::lib::error_code ec;
      auto con = client.get_connection(fmt::format("ws://127.0.0.1:{}/ws/record", port), ec);
      if (!ec) {
        const auto id = fmt::format("{}-churn-{}", prefix, churn_next++);
        churns[con->get_handle()] = Churn{con->get_handle(), id, Clock::now()};
        client.connect(con);
      }
      churn_timer.expires_after(every);
      churn_timer.async_wait([&](const asio::error_code& e) {
        if (!e) churn_tick();
      });
    };
    asio::post(client.get_io_service(), churn_tick);
  }
  asio::post(client.get_io_service(), [&] { f.chunks = 0; f.latency_ms.clear(); });
  const auto start = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  std::promise<void> stopped;
  asio::post(client.get_io_service(), [&] {
    running = false;
    f.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    ticker.cancel();
    churn_timer.cancel();
    stopped.set_value();
  });
  stopped.get_future().wait();
  // Let in-flight acks land, then close every stream cleanly.
  std::this_thread::sleep_for(std::chrono::seconds(1));
  asio::post(client.get_io_service(), [&] {
    for (auto& s : streams) {
      websocketpp::lib::error_code ec;
      client.close(s.hdl, websocketpp::close::status::normal, "done", ec);
    }
  });
  client.stop_perpetual();
  std::this_thread::sleep_for(std::chrono::seconds(1));
  client.stop();
  io.join();
  return f;
}


}  // namespace recorder::bench
