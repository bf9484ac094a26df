#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "common/AbandonableThread.h"

namespace tsn {
namespace {

using Outcome = AbandonableThread::Outcome;
using namespace std::chrono_literals;

/// Something a task can block in until the test lets it go (bounded: a broken thread fails the
/// test instead of hanging it).
struct Latch {
  std::mutex mutex;
  std::condition_variable changed;
  bool open = false;
  void release() {
    std::lock_guard lock(mutex);
    open = true;
    changed.notify_all();
  }
  void wait() {
    std::unique_lock lock(mutex);
    changed.wait_for(lock, 60s, [&] { return open; });
  }
};

void waitUntilNoneStuck(int64_t before) {
  for (int i = 0; i < 200 && AbandonableThread::stuckThreads() > before; ++i) {
    std::this_thread::sleep_for(10ms);
  }
}

TEST(AbandonableThread, RunsTasksOneAfterAnotherOnOneThread) {
  AbandonableThread thread;
  std::thread::id first, second;
  EXPECT_EQ(thread.run([&] { first = std::this_thread::get_id(); }, 5), Outcome::Finished);
  EXPECT_EQ(thread.run([&] { second = std::this_thread::get_id(); }, 5), Outcome::Finished);
  EXPECT_EQ(first, second);
  EXPECT_NE(first, std::this_thread::get_id());
}

TEST(AbandonableThread, CallReturnsTheValueAndRethrowsTheException) {
  AbandonableThread thread;
  Outcome outcome{};
  EXPECT_EQ(thread.call<int>([] { return 42; }, 5, nullptr, &outcome), 42);
  EXPECT_EQ(outcome, Outcome::Finished);
  EXPECT_THROW(
      thread.call<int>([]() -> int { throw std::runtime_error("bad file"); }, 5, nullptr, &outcome),
      std::runtime_error);
}

TEST(AbandonableThread, AStuckTaskIsAbandonedAndTheNextRunsOnAFreshThread) {
  const int64_t before = AbandonableThread::stuckThreads();
  auto latch = std::make_shared<Latch>();
  AbandonableThread thread;
  Outcome outcome{};
  // The stuck task's result goes into a slot nobody reads any more.
  const auto stuck = thread.call<int>(
      [latch] {
        latch->wait();
        return 1;
      },
      0.2, nullptr, &outcome);
  EXPECT_EQ(outcome, Outcome::TimedOut);
  EXPECT_FALSE(stuck.has_value());
  EXPECT_EQ(AbandonableThread::stuckThreads(), before + 1);

  EXPECT_EQ(thread.call<int>([] { return 2; }, 5, nullptr, &outcome), 2);
  latch->release();  // the abandoned task returns: its thread leaves
  waitUntilNoneStuck(before);
  EXPECT_EQ(AbandonableThread::stuckThreads(), before);
  EXPECT_EQ(thread.call<int>([] { return 3; }, 5, nullptr, &outcome), 3);
}

TEST(AbandonableThread, CancelGivesUpBeforeTheTimeLimit) {
  const int64_t before = AbandonableThread::stuckThreads();
  auto latch = std::make_shared<Latch>();
  std::atomic<bool> stop{false};
  std::thread stopper([&] {
    std::this_thread::sleep_for(100ms);
    stop = true;
  });
  AbandonableThread thread;
  EXPECT_EQ(thread.run([latch] { latch->wait(); }, 600, [&] { return stop.load(); }),
            Outcome::Cancelled);
  stopper.join();
  latch->release();
  waitUntilNoneStuck(before);
  EXPECT_EQ(AbandonableThread::stuckThreads(), before);
}

}  // namespace
}  // namespace tsn
