#include "distributed/NcclCommunicator.h"

#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>
#include <mpi.h>
#include <nccl.h>

#include <chrono>
#include <thread>

#include "common/Error.h"
#include "distributed/MpiError.h"

namespace tsn {
namespace {

static_assert(sizeof(ncclUniqueId) == NCCL_UNIQUE_ID_BYTES, "ncclUniqueId is sent as raw bytes");

#define TSN_CHECK_CUDA(call)                                                        \
  do {                                                                              \
    const cudaError_t tsnCudaRc = (call);                                           \
    TSN_CHECK(tsnCudaRc == cudaSuccess, "CUDA: {} failed: {}",                      \
              ::tsn::detail::calledFunction(#call), cudaGetErrorString(tsnCudaRc)); \
  } while (0)

#define TSN_CHECK_NCCL(call)                                                        \
  do {                                                                              \
    const ncclResult_t tsnNcclRc = (call);                                          \
    TSN_CHECK(tsnNcclRc == ncclSuccess, "NCCL: {} failed: {}",                      \
              ::tsn::detail::calledFunction(#call), ncclGetErrorString(tsnNcclRc)); \
  } while (0)

ncclDataType_t ncclType(const torch::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kFloat32:
      return ncclFloat32;
    case torch::kFloat64:
      return ncclFloat64;
    case torch::kFloat16:
      return ncclFloat16;
#if NCCL_MAJOR > 2 || NCCL_MINOR >= 10
    case torch::kBFloat16:
      return ncclBfloat16;
#endif
    case torch::kInt64:
      return ncclInt64;
    case torch::kInt32:
      return ncclInt32;
    case torch::kUInt8:
      return ncclUint8;
    default:
      throw Error(
          fmt::format("backend nccl does not support dtype {}", c10::toString(t.scalar_type())));
  }
}

/// A collective queued on the communicator's stream; complete when its event is.
class NcclWork final : public DeadlineWork {
 public:
  NcclWork(NcclCommunicator& owner, ncclComm_t comm, cudaEvent_t done, std::string what,
           double timeoutS, torch::Tensor keepAlive, std::function<std::string()> missing)
      : DeadlineWork(std::move(what), owner.rank(), timeoutS, std::move(keepAlive),
                     std::move(missing)),
        owner_(owner),
        comm_(comm),
        done_(done) {}
  ~NcclWork() override { cudaEventDestroy(done_); }

  bool poll() override {
    if (finished_) return true;
    // After an abort the communicator is freed: nothing may ask it anything.
    TSN_CHECK(!owner_.aborted(), "{}: the NCCL communicator was aborted after an earlier failure",
              what());
    TSN_CHECK_CUDA(cudaSetDevice(owner_.device()));
    const cudaError_t rc = cudaEventQuery(done_);
    if (rc == cudaSuccess) return finished_ = true;
    TSN_CHECK(rc == cudaErrorNotReady, "{}: CUDA error {}", what(), cudaGetErrorString(rc));
    ncclResult_t async = ncclSuccess;
    TSN_CHECK_NCCL(ncclCommGetAsyncError(comm_, &async));
    if (async != ncclSuccess && async != ncclInProgress) {
      owner_.abort();
      throw Error(fmt::format("{} failed on rank {}: NCCL reports {}; communicator aborted", what(),
                              rank(), ncclGetErrorString(async)));
    }
    return false;
  }

  /// The current stream waits for the collective on the GPU; the host goes on. Its deadline is
  /// then kept by NcclCommunicator::settle().
  void waitOnDevice() override {
    if (finished_) return;
    TSN_CHECK(!owner_.aborted(), "{}: the NCCL communicator was aborted after an earlier failure",
              what());
    TSN_CHECK_CUDA(
        cudaStreamWaitEvent(c10::cuda::getCurrentCUDAStream(owner_.device()).stream(), done_, 0));
  }

 protected:
  std::string onTimeout() override {
    owner_.abort();
    return "NCCL communicator aborted";
  }

 private:
  NcclCommunicator& owner_;
  ncclComm_t comm_;
  cudaEvent_t done_;
  bool finished_ = false;
};

void checkCudaContiguous(const torch::Tensor& t, int device, const char* what) {
  TSN_CHECK(t.is_cuda() && t.get_device() == device,
            "backend nccl: {} of a tensor on {} (this rank uses cuda:{})", what, t.device().str(),
            device);
  TSN_CHECK(t.is_contiguous(), "backend nccl needs contiguous tensors for {}", what);
}

}  // namespace

NcclCommunicator::NcclCommunicator(const MpiWorld& world, double timeoutS)
    : mpi_(world, timeoutS), timeoutS_(timeoutS) {
  int gpus = 0;
  TSN_CHECK_CUDA(cudaGetDeviceCount(&gpus));
  device_ = gpuOfLocalRank(world.localRank(), gpus);
  TSN_CHECK_CUDA(cudaSetDevice(device_));

  ncclUniqueId id{};
  if (mpi_.rank() == 0) TSN_CHECK_NCCL(ncclGetUniqueId(&id));
  auto bytes = torch::from_blob(&id, {static_cast<int64_t>(sizeof(id))}, torch::kUInt8);
  mpi_.broadcast(bytes, 0);
  // Non-blocking, so that a rank that never joins cannot hang the others: the init is polled
  // against dist.timeout_s (and so is every later call that reports ncclInProgress).
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;
  const uint64_t sequence = mpi_.nextSequence();
  const ncclResult_t rc = ncclCommInitRankConfig(&comm_, mpi_.size(), id, mpi_.rank(), &config);
  TSN_CHECK(rc == ncclSuccess || rc == ncclInProgress, "NCCL: ncclCommInitRankConfig failed: {}",
            ncclGetErrorString(rc));
  settleCall(fmt::format("NCCL communicator set-up (collective #{})", sequence), sequence);
  // A stream of its own (the pool's are shared and rotate: an upload could queue behind the
  // all-reduces).
  TSN_CHECK_CUDA(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
}

void NcclCommunicator::settleCall(const std::string& what, uint64_t sequence) {
  const auto start = std::chrono::steady_clock::now();
  auto pause = std::chrono::microseconds(1);
  while (true) {
    ncclResult_t state = ncclSuccess;
    TSN_CHECK_NCCL(ncclCommGetAsyncError(comm_, &state));
    if (state == ncclSuccess) return;
    if (state != ncclInProgress) {
      abort();
      throw Error(fmt::format("{} failed on rank {}: NCCL reports {}; communicator aborted", what,
                              rank(), ncclGetErrorString(state)));
    }
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() >
        timeoutS_) {
      abort();
      throw Error(fmt::format(
          "{} did not complete within dist.timeout_s={} s on rank {}; NCCL "
          "communicator aborted: {}",
          what, timeoutS_, rank(), mpi_.missingRanks(sequence, std::min(timeoutS_, 10.0))));
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(1000));
  }
}

NcclCommunicator::~NcclCommunicator() {
  cudaSetDevice(device_);
  if (comm_ == nullptr || aborted_) {
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
    return;
  }
  // Finalising waits for the other ranks' last collectives: one that aborted (or died) would
  // keep it waiting for ever, so it is bounded by the deadline, then the communicator aborted.
  try {
    const ncclResult_t rc = ncclCommFinalize(comm_);
    TSN_CHECK(rc == ncclSuccess || rc == ncclInProgress, "NCCL: ncclCommFinalize failed: {}",
              ncclGetErrorString(rc));
    settleCall("NCCL communicator finalisation", mpi_.sequence());
    ncclCommDestroy(comm_);
  } catch (const std::exception&) {
    abort();  // settleCall aborted it already where it failed; idempotent
  }
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
}

void NcclCommunicator::abort() {
  if (aborted_.exchange(true)) return;
  ncclCommAbort(comm_);
}

std::shared_ptr<Work> NcclCommunicator::enqueue(const torch::Tensor& tensor, const char* what,
                                                const std::function<int(CUstream_st*)>& launch) {
  TSN_CHECK(!aborted_, "backend nccl: the communicator was aborted after an earlier failure");
  TSN_CHECK_CUDA(cudaSetDevice(device_));
  // The tensor's values are produced by kernels queued on the current stream (LibTorch's, which
  // need not be the legacy default stream): the collective starts after them.
  const auto current = c10::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(device_));
  cudaEvent_t ready = nullptr, done = nullptr;
  TSN_CHECK_CUDA(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming));
  TSN_CHECK_CUDA(cudaEventRecord(ready, current.stream()));
  TSN_CHECK_CUDA(cudaStreamWaitEvent(stream_, ready, 0));
  cudaEventDestroy(ready);
  // The caching allocator must not hand the tensor's memory to the current stream's next
  // kernels while the collective still uses it on this stream.
  c10::cuda::CUDACachingAllocator::recordStream(
      tensor.storage().data_ptr(),
      c10::cuda::getStreamFromExternal(stream_, static_cast<c10::DeviceIndex>(device_)));
  // One count with the CPU collectives that go over MPI (mpi_), as every rank sees them.
  const uint64_t sequence = mpi_.nextSequence();
  const auto rc = static_cast<ncclResult_t>(launch(stream_));
  TSN_CHECK(rc == ncclSuccess || rc == ncclInProgress, "backend nccl: {} failed to start: {}", what,
            ncclGetErrorString(rc));
  // A non-blocking communicator may still be queueing it (connecting to a peer the first time).
  if (rc == ncclInProgress)
    settleCall(fmt::format("NCCL {} (collective #{})", what, sequence), sequence);
  TSN_CHECK_CUDA(cudaEventCreateWithFlags(&done, cudaEventDisableTiming));
  TSN_CHECK_CUDA(cudaEventRecord(done, stream_));
  const double grace = std::min(timeoutS_, 10.0);
  auto work = std::make_shared<NcclWork>(
      *this, comm_, done, fmt::format("NCCL {} (collective #{})", what, sequence), timeoutS_,
      tensor, [this, sequence, grace] { return mpi_.missingRanks(sequence, grace); });
  last_ = work;  // the stream runs them in order: once this one is done, all are
  return work;
}

void NcclCommunicator::settle() {
  if (!last_) return;
  const auto last = std::move(last_);
  last->wait();
}

std::shared_ptr<Work> NcclCommunicator::allReduceAsync(torch::Tensor& tensor, ReduceOp op) {
  if (tensor.is_cpu()) return mpi_.allReduceAsync(tensor, op);
  checkCudaContiguous(tensor, device_, "all-reduce");
  const auto what = fmt::format("all-reduce of {} values", tensor.numel());
  return enqueue(tensor, what.c_str(), [&](CUstream_st* stream) {
    return ncclAllReduce(tensor.data_ptr(), tensor.data_ptr(), static_cast<size_t>(tensor.numel()),
                         ncclType(tensor), op == ReduceOp::Sum ? ncclSum : ncclMax, comm_, stream);
  });
}

void NcclCommunicator::allReduce(torch::Tensor& tensor, ReduceOp op) {
  allReduceAsync(tensor, op)->wait();
}

torch::Tensor NcclCommunicator::allGather(const torch::Tensor& tensor) {
  if (tensor.is_cpu()) return mpi_.allGather(tensor);
  const auto local = tensor.contiguous();
  checkCudaContiguous(local, device_, "all-gather");
  std::vector<int64_t> shape = {size()};
  for (const auto d : local.sizes()) shape.push_back(d);
  auto out = torch::empty(shape, local.options());
  enqueue(out, "all-gather", [&](CUstream_st* stream) {
    return ncclAllGather(local.data_ptr(), out.data_ptr(), static_cast<size_t>(local.numel()),
                         ncclType(local), comm_, stream);
  })->wait();
  return out;
}

void NcclCommunicator::broadcast(torch::Tensor& tensor, int root) {
  if (tensor.is_cpu()) return mpi_.broadcast(tensor, root);
  checkCudaContiguous(tensor, device_, "broadcast");
  enqueue(tensor, "broadcast", [&](CUstream_st* stream) {
    return ncclBroadcast(tensor.data_ptr(), tensor.data_ptr(), static_cast<size_t>(tensor.numel()),
                         ncclType(tensor), root, comm_, stream);
  })->wait();
}

}  // namespace tsn
