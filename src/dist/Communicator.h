#pragma once
/// @file One interface for the collectives training needs, several backends.
///
/// LocalCommunicator is the world of one (a debug run, a laptop); the MPI (CPU tensors) and NCCL
/// (CUDA tensors) backends implement the same interface. An operation a backend lacks throws
/// "backend X does not support Y".

#include <torch/types.h>

#include <memory>
#include <string>

namespace tsn {

enum class ReduceOp { Sum, Max };

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual std::string backendName() const = 0;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual int localRank() const = 0;
  /// In place, on every rank.
  virtual void allReduce(torch::Tensor& tensor, ReduceOp op = ReduceOp::Sum) = 0;
  /// In place: every rank ends with root's values.
  virtual void broadcast(torch::Tensor& tensor, int root = 0) = 0;
  virtual void barrier() = 0;
};

/// A world of one process: every collective is the identity.
class LocalCommunicator final : public Communicator {
 public:
  std::string backendName() const override { return "local"; }
  int rank() const override { return 0; }
  int size() const override { return 1; }
  int localRank() const override { return 0; }
  void allReduce(torch::Tensor&, ReduceOp) override {}
  void broadcast(torch::Tensor&, int root) override;
  void barrier() override {}
};

}  // namespace tsn
