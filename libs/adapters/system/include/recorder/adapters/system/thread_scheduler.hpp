#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "recorder/core/ports/scheduler.hpp"

namespace recorder::adapters::system {

// Deadlines and small background tasks on one thread of its own. Due deadlines are
// handed to the handler (RecordingService::on_deadline) without holding any lock of the
// scheduler, so the handler may arm and cancel freely. With an executor, the handler runs
// there and this thread only keeps time: a deadline whose handling waits on the database
// or the disk does not hold up the next one.
class ThreadScheduler final : public core::Scheduler {
 public:
  using Handler = std::function<void(const core::RecordingId&, core::DeadlineKind)>;
  using Task = std::function<void()>;
  using Executor = std::function<void(Task)>;

  ThreadScheduler();
  ~ThreadScheduler() override;
  ThreadScheduler(const ThreadScheduler&) = delete;
  ThreadScheduler& operator=(const ThreadScheduler&) = delete;

  // Before start().
  void set_handler(Handler handler);
  // Before start(): where due deadlines are handled (a worker pool); unset, on this thread.
  void set_executor(Executor executor);
  void start();
  // Finishes the task or deadline being run, drops the rest, joins the thread.
  void stop();

  // Runs `task` on the scheduler's thread soon, or every `period`.
  void post(Task task);
  void every(core::Duration period, Task task);

  // Port
  void arm(const core::RecordingId& id, core::DeadlineKind kind, core::MonoTime at) override;
  void cancel(const core::RecordingId& id, core::DeadlineKind kind) override;
  void cancel_all(const core::RecordingId& id) override;

  std::size_t armed() const;

 private:
  using Key = std::pair<core::RecordingId, core::DeadlineKind>;
  struct Periodic {
    core::Duration period;
    core::MonoTime next;
    Task task;
  };
  void run();

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  Handler handler_;
  Executor executor_;
  std::map<Key, core::MonoTime> deadlines_;
  // Due order: (time, the key in deadlines_), so that each armed deadline's recording id is
  // held once (10,000 agents each keep two armed). Compared by the key's value.
  struct ByTime {
    bool operator()(const std::pair<core::MonoTime, const Key*>& a, const std::pair<core::MonoTime, const Key*>& b) const {
      return a.first != b.first ? a.first < b.first : *a.second < *b.second;
    }
  };
  std::set<std::pair<core::MonoTime, const Key*>, ByTime> order_;
  std::vector<Task> tasks_;
  std::vector<Periodic> periodic_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace recorder::adapters::system
