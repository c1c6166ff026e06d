#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace recorder::adapters {

// A few threads that run queued jobs in order of arrival: the media workers of the fs and
// gstreamer adapters. stop() finishes the jobs being run and drops the queued ones (the
// core's recovery runs unfinished work again after a restart).
class WorkerPool {
 public:
  explicit WorkerPool(std::size_t threads);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // False (and the job is dropped) once stop() has begun.
  bool post(std::function<void()> job);
  void stop();

 private:
  void work();

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace recorder::adapters
