#include "recorder/adapters/postgres/postgres_listener.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <pqxx/pqxx>

namespace recorder::adapters::postgres {
namespace {

class Receiver final : public pqxx::notification_receiver {
 public:
  Receiver(pqxx::connection_base& c, const std::string& channel, const std::function<void(const std::string&)>& deliver)
      : pqxx::notification_receiver(c, channel), deliver_(deliver) {}
  void operator()(const std::string& payload, int) override { deliver_(payload); }

 private:
  const std::function<void(const std::string&)>& deliver_;
};

}  // namespace

struct PostgresListener::Impl {
  std::string url;
  std::string channel;
  std::function<void(const std::string&)> on_payload;
  std::function<void()> on_connected;
  Reconnect policy;
  std::atomic<int> pid{0};
  std::mutex mutex;
  std::condition_variable wake;
  bool stopping = false;  // under mutex
  std::thread thread;

  void run() {
    std::unique_ptr<pqxx::connection> conn;
    std::unique_ptr<Receiver> receiver;
    std::chrono::milliseconds backoff{0};
    for (;;) {
      {
        std::unique_lock lock(mutex);
        if (wake.wait_for(lock, backoff, [&] { return stopping; })) break;
      }
      try {
        if (!conn) {
          conn = std::make_unique<pqxx::connection>(url);
          receiver = std::make_unique<Receiver>(*conn, channel, on_payload);
          conn->get_notifs();  // whatever came with the connection
          pid = conn->backendpid();
          backoff = std::chrono::milliseconds{0};
          on_connected();
        }
        // At most 200 ms, so that stop() is quick.
        conn->await_notification(0, 200000);
        if (const int now = conn->backendpid(); now != pid) {
          // libpqxx reconnected by itself (and listens again): what came meanwhile is lost.
          pid = now;
          if (now != 0) on_connected();
        }
      } catch (const std::exception&) {
        receiver.reset();  // before its connection; it does not throw
        conn.reset();
        pid = 0;
        backoff = backoff.count() == 0 ? policy.initial : std::min(backoff * 2, policy.max);
      }
    }
    receiver.reset();
    conn.reset();
    pid = 0;
  }
};

PostgresListener::PostgresListener(std::string url, std::string channel,
                                   std::function<void(const std::string&)> on_payload,
                                   std::function<void()> on_connected, Reconnect reconnect)
    : impl_(std::make_unique<Impl>()) {
  impl_->url = std::move(url);
  impl_->channel = std::move(channel);
  impl_->on_payload = std::move(on_payload);
  impl_->on_connected = std::move(on_connected);
  impl_->policy = reconnect;
}

PostgresListener::~PostgresListener() { stop(); }

void PostgresListener::start() {
  if (impl_->thread.joinable()) return;
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = false;
  }
  impl_->thread = std::thread([this] { impl_->run(); });
}

void PostgresListener::stop() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
}

int PostgresListener::backend_pid() const { return impl_->pid.load(); }

}  // namespace recorder::adapters::postgres
