#pragma once
/// @file Collectives on CPU tensors over MPI, each bounded by a deadline.

#include <mpi.h>

#include <chrono>
#include <memory>

#include "distributed/Communicator.h"
#include "distributed/MpiProgress.h"
#include "distributed/MpiWorld.h"

namespace tsn {

class MpiCommunicator final : public Communicator {
 public:
  /// Works on a duplicate of MPI_COMM_WORLD. A collective that has not completed on this rank
  /// `timeoutS` seconds after it started throws, naming the collective and the ranks that did
  /// not arrive (see missingRanks()). With `progressInterval` > 0 and MPI_THREAD_MULTIPLE, a
  /// progress thread tests the collectives in flight that often (MpiProgress); otherwise they
  /// move only when polled.
  MpiCommunicator(const MpiWorld& world, double timeoutS,
                  std::chrono::microseconds progressInterval = std::chrono::microseconds(0));
  ~MpiCommunicator() override;

  std::string backendName() const override { return "mpi"; }
  bool needsPolling() const override { return true; }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int localRank() const override { return localRank_; }
  void allReduce(torch::Tensor& tensor, ReduceOp op = ReduceOp::Sum) override;
  std::shared_ptr<Work> allReduceAsync(torch::Tensor& tensor, ReduceOp op) override;
  torch::Tensor allGather(const torch::Tensor& tensor) override;
  void broadcast(torch::Tensor& tensor, int root = 0) override;
  void barrier() override;

  /// After collective number `sequence` timed out here: tells every other rank so, and listens
  /// up to `graceS` seconds for theirs. A rank that stays silent, or reports an earlier
  /// collective, is stuck before `sequence`; those are returned as a message like
  /// "ranks 1, 3 did not arrive". Only the failure path sends these messages.
  std::string missingRanks(uint64_t sequence, double graceS);

  /// Number of collectives this communicator has started, the same on every rank.
  uint64_t sequence() const { return sequence_; }
  /// Numbers a collective started elsewhere that shares this count: NcclCommunicator's GPU
  /// collectives, so that the ranks' counts that missingRanks() compares include both kinds.
  uint64_t nextSequence() { return ++sequence_; }
  /// A progress thread moves collectives along.
  bool progressThread() const { return progress_ != nullptr; }

 private:
  std::shared_ptr<Work> track(MPI_Request request, std::string what, torch::Tensor keepAlive);

  MPI_Comm comm_ = MPI_COMM_NULL;
  MPI_Comm reportComm_ = MPI_COMM_NULL;  ///< carries only the messages of missingRanks()
  uint64_t sequence_ = 0;
  int rank_ = 0;
  int size_ = 1;
  int localRank_ = 0;
  double timeoutS_;
  std::vector<std::string> hosts_;  ///< by rank, to name where a missing rank runs
  std::unique_ptr<MpiProgress> progress_;
};

}  // namespace tsn
