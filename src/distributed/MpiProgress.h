#pragma once
/// @file A thread that moves MPI's non-blocking collectives along while the training thread
/// computes. Open MPI moves a collective's data only inside MPI calls: without this, a gradient
/// bucket started early in backward progresses only at the next gradient hook, and over TCP
/// between nodes it barely moves until backward ends (Horovod's background thread solves the
/// same). Needs MPI_THREAD_MULTIPLE.

#include <mpi.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace tsn {

/// How a tracked request ended.
struct MpiCompletion {
  enum State { InFlight, Done, Failed };
  std::atomic<State> state{InFlight};
  int code = 0;  ///< MPI's error code once Failed (written before state)
};

class MpiProgress {
 public:
  /// Tests the requests in flight every `interval` until each completes; idle otherwise.
  explicit MpiProgress(std::chrono::microseconds interval);
  ~MpiProgress();  ///< stops the thread; requests still in flight are left to MPI_Abort
  MpiProgress(const MpiProgress&) = delete;
  MpiProgress& operator=(const MpiProgress&) = delete;

  /// Takes `request` over: from now on only the progress thread tests it.
  std::shared_ptr<MpiCompletion> track(MPI_Request request);

 private:
  void loop();

  std::chrono::microseconds interval_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::pair<MPI_Request, std::shared_ptr<MpiCompletion>>>
      incoming_;  ///< not yet taken by the thread
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace tsn
