#include "recorder/adapters/system/thread_scheduler.hpp"

#include <algorithm>

namespace recorder::adapters::system {

ThreadScheduler::ThreadScheduler() = default;

ThreadScheduler::~ThreadScheduler() { stop(); }

void ThreadScheduler::set_handler(Handler handler) {
  std::lock_guard lock(mutex_);
  handler_ = std::move(handler);
}

void ThreadScheduler::set_executor(Executor executor) {
  std::lock_guard lock(mutex_);
  executor_ = std::move(executor);
}

void ThreadScheduler::start() {
  std::lock_guard lock(mutex_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void ThreadScheduler::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ThreadScheduler::post(Task task) {
  {
    std::lock_guard lock(mutex_);
    tasks_.push_back(std::move(task));
  }
  wake_.notify_all();
}

void ThreadScheduler::every(core::Duration period, Task task) {
  {
    std::lock_guard lock(mutex_);
    periodic_.push_back(Periodic{period, std::chrono::steady_clock::now() + period, std::move(task)});
  }
  wake_.notify_all();
}

void ThreadScheduler::arm(const core::RecordingId& id, core::DeadlineKind kind, core::MonoTime at) {
  {
    std::lock_guard lock(mutex_);
    Key key{id, kind};
    auto it = deadlines_.find(key);
    if (it != deadlines_.end()) {
      order_.erase({it->second, &it->first});
      it->second = at;
    } else {
      it = deadlines_.emplace(std::move(key), at).first;
    }
    order_.emplace(at, &it->first);
  }
  wake_.notify_all();
}

void ThreadScheduler::cancel(const core::RecordingId& id, core::DeadlineKind kind) {
  std::lock_guard lock(mutex_);
  Key key{id, kind};
  if (auto it = deadlines_.find(key); it != deadlines_.end()) {
    order_.erase({it->second, &it->first});
    deadlines_.erase(it);
  }
}

void ThreadScheduler::cancel_all(const core::RecordingId& id) {
  std::lock_guard lock(mutex_);
  for (auto it = deadlines_.lower_bound({id, core::DeadlineKind::limit}); it != deadlines_.end() && it->first.first == id;) {
    order_.erase({it->second, &it->first});
    it = deadlines_.erase(it);
  }
}

std::size_t ThreadScheduler::armed() const {
  std::lock_guard lock(mutex_);
  return deadlines_.size();
}

void ThreadScheduler::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    const auto now = std::chrono::steady_clock::now();
    if (!tasks_.empty()) {
      auto tasks = std::move(tasks_);
      tasks_.clear();
      lock.unlock();
      for (auto& t : tasks) t();
      lock.lock();
      continue;
    }
    if (!order_.empty() && order_.begin()->first <= now) {
      const Key key = *order_.begin()->second;  // a copy: the map's node goes next
      order_.erase(order_.begin());
      deadlines_.erase(key);
      Handler handler = handler_;
      Executor executor = executor_;
      lock.unlock();
      if (handler && executor) executor([handler, key] { handler(key.first, key.second); });
      else if (handler) handler(key.first, key.second);
      lock.lock();
      continue;
    }
    auto due = std::ranges::find_if(periodic_, [&](const Periodic& p) { return p.next <= now; });
    if (due != periodic_.end()) {
      due->next = now + due->period;
      Task task = due->task;
      lock.unlock();
      task();
      lock.lock();
      continue;
    }
    core::MonoTime next = now + std::chrono::hours{1};
    if (!order_.empty()) next = std::min(next, order_.begin()->first);
    for (const auto& p : periodic_) next = std::min(next, p.next);
    wake_.wait_until(lock, next);
  }
}

}  // namespace recorder::adapters::system
