#pragma once
/// @file Collectives on CUDA tensors over NCCL (TSN_WITH_CUDA builds only).
///
/// One communicator per rank over all ranks of the MPI world; rank 0 creates the NCCL unique id
/// and broadcasts it over MPI. Collectives run on a stream of the communicator's own, ordered after
/// the work already queued on LibTorch's current stream by an event, so an all-reduce started from
/// a backward hook overlaps the rest of the backward pass; the caching allocator is told the tensor
/// is in use on that stream (recordStream). CPU tensors (small control values: counts,
/// fingerprints) go over MPI.
///
/// Failures never hang: the communicator is non-blocking (ncclCommInitRankConfig, blocking =
/// 0), so its set-up, a call NCCL is still queueing and its finalisation are polled against
/// dist.timeout_s; wait() polls the collective's completion event and NCCL's asynchronous error
/// state; waitOnDevice() makes the current stream wait instead, and settle() then keeps the
/// deadline for everything queued. Past dist.timeout_s, or on an NCCL error, the communicator is
/// aborted (ncclCommAbort) and the call throws naming the ranks that did not arrive.

#include <atomic>

#include "distributed/Communicator.h"
#include "distributed/MpiCommunicator.h"

struct ncclComm;
struct CUstream_st;

namespace tsn {

class NcclCommunicator final : public Communicator {
 public:
  /// Binds the GPU numbered by this rank's local rank (an error naming the node if it has fewer
  /// GPUs than ranks) and joins the NCCL communicator of all ranks.
  NcclCommunicator(const MpiWorld& world, double timeoutS);
  ~NcclCommunicator() override;
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  std::string backendName() const override { return "nccl"; }
  int rank() const override { return mpi_.rank(); }
  int size() const override { return mpi_.size(); }
  int localRank() const override { return mpi_.localRank(); }
  void allReduce(torch::Tensor& tensor, ReduceOp op = ReduceOp::Sum) override;
  std::shared_ptr<Work> allReduceAsync(torch::Tensor& tensor, ReduceOp op) override;
  torch::Tensor allGather(const torch::Tensor& tensor) override;
  void broadcast(torch::Tensor& tensor, int root = 0) override;
  void barrier() override { mpi_.barrier(); }
  /// Waits (polling, with the deadline) for the last collective queued: the stream runs them in
  /// order, so every earlier one is then done too.
  void settle() override;

  /// The CUDA device this rank uses.
  int device() const { return device_; }
  /// Aborts the NCCL communicator (idempotent); every later collective throws.
  void abort();
  bool aborted() const { return aborted_; }

 private:
  /// Queues `launch` on the communicator's stream after the default stream's pending work, and
  /// returns a Work that completes with it.
  std::shared_ptr<Work> enqueue(const torch::Tensor& tensor, const char* what,
                                const std::function<int(CUstream_st*)>& launch);

  /// Polls NCCL's state after a non-blocking call until it is done, NCCL reports an error, or
  /// dist.timeout_s passes (then aborts, and throws naming the ranks missing at `sequence`).
  void settleCall(const std::string& what, uint64_t sequence);

  MpiCommunicator mpi_;
  int device_ = 0;
  double timeoutS_;
  ncclComm* comm_ = nullptr;
  CUstream_st* stream_ = nullptr;
  std::atomic<bool> aborted_{false};
  std::shared_ptr<Work> last_;  ///< the last collective queued on stream_
};

}  // namespace tsn
