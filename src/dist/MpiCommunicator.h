#pragma once
/// @file Collectives on CPU tensors over MPI, each bounded by a deadline.

#include <mpi.h>

#include "dist/Communicator.h"
#include "dist/MpiWorld.h"

namespace tsn {

class MpiCommunicator final : public Communicator {
 public:
  /// Works on a duplicate of MPI_COMM_WORLD. A collective that has not completed on this rank
  /// `timeoutS` seconds after it started throws, saying which collective and that another
  /// rank stalled or died.
  MpiCommunicator(const MpiWorld& world, double timeoutS);
  ~MpiCommunicator() override;

  std::string backendName() const override { return "mpi"; }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int localRank() const override { return localRank_; }
  void allReduce(torch::Tensor& tensor, ReduceOp op = ReduceOp::Sum) override;
  std::shared_ptr<Work> allReduceAsync(torch::Tensor& tensor, ReduceOp op) override;
  torch::Tensor allGather(const torch::Tensor& tensor) override;
  void broadcast(torch::Tensor& tensor, int root = 0) override;
  void barrier() override;

 private:
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0;
  int size_ = 1;
  int localRank_ = 0;
  double timeoutS_;
};

}  // namespace tsn
