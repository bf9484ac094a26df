#pragma once
/// @file One interface for the collectives training needs, several backends.
///
/// LocalCommunicator is the world of one (a debug run, a laptop); the MPI (CPU tensors) and NCCL
/// (CUDA tensors) backends implement the same interface. An operation a backend lacks throws
/// "backend X does not support Y".

#include <torch/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace tsn {

enum class ReduceOp { Sum, Max };

/// A collective in flight. wait() returns when it completed on this rank, or throws.
class Work {
 public:
  virtual ~Work() = default;
  virtual void wait() = 0;
  /// Lets the collective progress without blocking (MPI moves data only when called); true
  /// once it completed.
  virtual bool poll() = 0;
  /// Makes what is queued from now on on the current device stream wait for the collective,
  /// without the host waiting (NCCL: cudaStreamWaitEvent). Host backends wait(). A failure or
  /// timeout is then reported by Communicator::settle().
  virtual void waitOnDevice() { wait(); }
};

/// A collective that must complete within a deadline, whatever the backend: wait() polls it
/// (backing off from 1 us to 1 ms between polls); once `timeoutS` seconds have passed since it
/// started, it calls onTimeout() and throws "<what> did not complete within dist.timeout_s=T s
/// on rank R<consequence>: <missing()>", where missing() names the ranks that did not arrive.
/// The work holds `keepAlive` (the collective's buffer) until it is destroyed.
class DeadlineWork : public Work {
 public:
  DeadlineWork(std::string what, int rank, double timeoutS, torch::Tensor keepAlive,
               std::function<std::string()> missing)
      : what_(std::move(what)),
        rank_(rank),
        timeoutS_(timeoutS),
        keepAlive_(std::move(keepAlive)),
        missing_(std::move(missing)),
        start_(std::chrono::steady_clock::now()) {}
  void wait() final;

 protected:
  const std::string& what() const { return what_; }
  int rank() const { return rank_; }
  /// Runs before the timeout error is thrown; returns what it did, for the message ("" for
  /// nothing).
  virtual std::string onTimeout() { return ""; }

 private:
  std::string what_;
  int rank_;
  double timeoutS_;
  torch::Tensor keepAlive_;
  std::function<std::string()> missing_;
  std::chrono::steady_clock::time_point start_;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual std::string backendName() const = 0;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual int localRank() const = 0;
  /// In place, on every rank.
  virtual void allReduce(torch::Tensor& tensor, ReduceOp op = ReduceOp::Sum) = 0;
  /// Starts an in-place all-reduce. Every rank must start collectives in the same order.
  virtual std::shared_ptr<Work> allReduceAsync(torch::Tensor& tensor, ReduceOp op) = 0;
  /// Every rank's `tensor` (same shape everywhere), stacked: [size(), ...].
  virtual torch::Tensor allGather(const torch::Tensor& tensor) = 0;
  /// In place: every rank ends with root's values.
  virtual void broadcast(torch::Tensor& tensor, int root = 0) = 0;
  virtual void barrier() = 0;
  /// Whether collectives in flight progress only while the host calls into the library (MPI);
  /// GradientReducer then gives them a turn at every gradient. A device stream needs no turn.
  virtual bool needsPolling() const { return false; }
  /// Waits, keeping the deadline, for the collectives that Work::waitOnDevice left to the
  /// device; throws as wait() does. Nothing to do for host backends.
  virtual void settle() {}
};

/// A world of one process: every collective is the identity.
class LocalCommunicator final : public Communicator {
 public:
  std::string backendName() const override { return "local"; }
  int rank() const override { return 0; }
  int size() const override { return 1; }
  int localRank() const override { return 0; }
  void allReduce(torch::Tensor&, ReduceOp) override {}
  std::shared_ptr<Work> allReduceAsync(torch::Tensor&, ReduceOp) override;
  torch::Tensor allGather(const torch::Tensor& tensor) override {
    return tensor.unsqueeze(0).clone();
  }
  void broadcast(torch::Tensor&, int root) override;
  void barrier() override {}
};

}  // namespace tsn
