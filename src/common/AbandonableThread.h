#pragma once
/// @file A thread that runs one task at a time, and that its owner can give up on.
///
/// Some calls no deadline can end: open() of a file on a stalled network file system (or of a
/// named pipe), a read() that the storage never answers. The owner waits for each task at most
/// a time limit; a task past it is abandoned: its thread is detached and left to finish the call,
/// if it ever does, and then exits without touching anything but what the task captured. The
/// next task gets a fresh thread. So a task must own (capture by value, shared_ptr) everything
/// it uses, and report its result through a shared slot that the owner drops when it gives up.

#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

namespace tsn {

class AbandonableThread {
 public:
  enum class Outcome {
    Finished,   ///< the task returned (or threw: a task must catch what it throws)
    TimedOut,   ///< abandoned after the time limit
    Cancelled,  ///< abandoned because `cancel` returned true
  };

  AbandonableThread();
  ~AbandonableThread();  ///< joins the idle thread
  AbandonableThread(const AbandonableThread&) = delete;
  AbandonableThread& operator=(const AbandonableThread&) = delete;

  /// Runs `task` on the thread and waits until it returns, `timeoutS` seconds pass (0: no
  /// limit), or `cancel` (checked every 50 ms) returns true. `task` must not throw.
  Outcome run(std::function<void()> task, double timeoutS,
              const std::function<bool()>& cancel = nullptr);

  /// Runs `work` as run() does and returns what it returned, rethrowing what it threw; nullopt
  /// when it was abandoned (`*outcome` says why). `work` must own what it uses.
  template <class T>
  std::optional<T> call(std::function<T()> work, double timeoutS,
                        const std::function<bool()>& cancel, Outcome* outcome) {
    struct Slot {
      std::optional<T> value;
      std::exception_ptr error;
    };
    auto slot = std::make_shared<Slot>();  // outlives this call if the work is abandoned
    *outcome = run(
        [slot, work = std::move(work)] {
          try {
            slot->value = work();
          } catch (...) {
            slot->error = std::current_exception();
          }
        },
        timeoutS, cancel);
    if (*outcome != Outcome::Finished) return std::nullopt;
    if (slot->error) std::rethrow_exception(slot->error);
    return std::move(slot->value);
  }

  /// Threads of this process that were abandoned and are still inside their task.
  static int64_t stuckThreads();

 private:
  struct Channel;
  /// Detaches a busy thread (false when its task has just finished: nothing is abandoned).
  bool abandon();
  std::shared_ptr<Channel> channel_;
  std::thread thread_;
};

}  // namespace tsn
