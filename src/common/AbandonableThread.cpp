#include "common/AbandonableThread.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

namespace tsn {
namespace {
std::atomic<int64_t> gStuck{0};
constexpr std::chrono::milliseconds kPoll{50};
}  // namespace

/// What the owner and the thread share; the thread keeps it alive after being abandoned.
struct AbandonableThread::Channel {
  std::mutex mutex;
  std::condition_variable changed;
  std::function<void()> task;  ///< set by the owner, taken by the thread
  bool busy = false;           ///< a task is pending or running
  bool quit = false;
  bool abandoned = false;

  static void loop(const std::shared_ptr<Channel>& self) {
    std::unique_lock lock(self->mutex);
    while (true) {
      self->changed.wait(lock, [&] { return self->quit || self->task; });
      if (self->quit) return;
      std::function<void()> task = std::move(self->task);
      self->task = nullptr;
      lock.unlock();
      task();
      task = nullptr;  // what it captured goes now, outside the lock
      lock.lock();
      self->busy = false;
      if (self->abandoned) {
        --gStuck;
        return;
      }
      self->changed.notify_all();
    }
  }
};

AbandonableThread::AbandonableThread() = default;

AbandonableThread::~AbandonableThread() {
  if (!channel_) return;
  {
    std::lock_guard lock(channel_->mutex);
    channel_->quit = true;
  }
  channel_->changed.notify_all();
  thread_.join();
}

int64_t AbandonableThread::stuckThreads() {
  return gStuck.load();
}

bool AbandonableThread::abandon() {
  {
    std::lock_guard lock(channel_->mutex);
    if (!channel_->busy) return false;  // it finished meanwhile: nothing to give up on
    channel_->abandoned = true;
    ++gStuck;
  }
  thread_.detach();
  channel_.reset();
  return true;
}

AbandonableThread::Outcome AbandonableThread::run(std::function<void()> task, double timeoutS,
                                                  const std::function<bool()>& cancel) {
  if (!channel_) {
    channel_ = std::make_shared<Channel>();
    thread_ = std::thread(&Channel::loop, channel_);
  }
  using Clock = std::chrono::steady_clock;
  const auto deadline = timeoutS > 0 ? Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                                          std::chrono::duration<double>(timeoutS))
                                     : Clock::time_point::max();
  Channel& c = *channel_;
  {
    std::lock_guard lock(c.mutex);
    c.task = std::move(task);
    c.busy = true;
  }
  c.changed.notify_all();
  while (true) {
    {
      std::unique_lock lock(c.mutex);
      const auto until = std::min(deadline, Clock::now() + kPoll);
      if (c.changed.wait_until(lock, until, [&] { return !c.busy; })) return Outcome::Finished;
    }
    // Checked outside the lock: `cancel` may take locks of its own.
    if (cancel && cancel()) return abandon() ? Outcome::Cancelled : Outcome::Finished;
    if (Clock::now() >= deadline) return abandon() ? Outcome::TimedOut : Outcome::Finished;
  }
}

}  // namespace tsn
