#include "dist/MpiCommunicator.h"

#include <chrono>
#include <thread>

#include "common/Error.h"
#include "dist/MpiError.h"

namespace tsn {
namespace {

MPI_Datatype mpiType(const torch::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kFloat32:
      return MPI_FLOAT;
    case torch::kFloat64:
      return MPI_DOUBLE;
    case torch::kInt64:
      return MPI_INT64_T;
    case torch::kInt32:
      return MPI_INT32_T;
    case torch::kUInt8:
      return MPI_UINT8_T;
    default:
      throw Error(
          fmt::format("backend mpi does not support dtype {}", c10::toString(t.scalar_type())));
  }
}

void checkCpuContiguous(const torch::Tensor& t, const char* what) {
  TSN_CHECK(t.device().is_cpu(), "backend mpi does not support {} of {} tensors", what,
            t.device().str());
  TSN_CHECK(t.is_contiguous(), "backend mpi needs contiguous tensors for {}", what);
}

/// An MPI request waited on with a deadline; MPI_Test in a loop so a stalled peer cannot block
/// this rank forever.
class MpiWork final : public Work {
 public:
  MpiWork(MPI_Request request, std::string what, double timeoutS, torch::Tensor keepAlive)
      : request_(request),
        what_(std::move(what)),
        timeoutS_(timeoutS),
        tensor_(std::move(keepAlive)),
        start_(std::chrono::steady_clock::now()) {}

  bool poll() override {
    if (request_ == MPI_REQUEST_NULL) return true;
    int done = 0;
    TSN_CHECK_MPI(MPI_Test(&request_, &done, MPI_STATUS_IGNORE));
    return done != 0;
  }

  void wait() override {
    auto pause = std::chrono::microseconds(1);
    while (request_ != MPI_REQUEST_NULL) {
      int done = 0;
      TSN_CHECK_MPI(MPI_Test(&request_, &done, MPI_STATUS_IGNORE));
      if (done) break;
      const double waited =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
      if (waited > timeoutS_) {
        throw Error(
            fmt::format("{} did not complete within dist.timeout_s={} s on rank {}: another "
                        "rank stalled or died",
                        what_, timeoutS_, errorRank()));
      }
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, std::chrono::microseconds(1000));
    }
  }

 private:
  MPI_Request request_;
  std::string what_;
  double timeoutS_;
  torch::Tensor tensor_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace

MpiCommunicator::MpiCommunicator(const MpiWorld& world, double timeoutS)
    : rank_(world.rank()), size_(world.size()), localRank_(world.localRank()), timeoutS_(timeoutS) {
  TSN_CHECK_MPI(MPI_Comm_dup(MPI_COMM_WORLD, &comm_));
  MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
}

MpiCommunicator::~MpiCommunicator() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized && comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
}

std::shared_ptr<Work> MpiCommunicator::allReduceAsync(torch::Tensor& tensor, ReduceOp op) {
  checkCpuContiguous(tensor, "all-reduce");
  MPI_Request request = MPI_REQUEST_NULL;
  TSN_CHECK_MPI(MPI_Iallreduce(MPI_IN_PLACE, tensor.data_ptr(), static_cast<int>(tensor.numel()),
                               mpiType(tensor), op == ReduceOp::Sum ? MPI_SUM : MPI_MAX, comm_,
                               &request));
  return std::make_shared<MpiWork>(request, fmt::format("all-reduce of {} values", tensor.numel()),
                                   timeoutS_, tensor);
}

void MpiCommunicator::allReduce(torch::Tensor& tensor, ReduceOp op) {
  allReduceAsync(tensor, op)->wait();
}

torch::Tensor MpiCommunicator::allGather(const torch::Tensor& tensor) {
  const auto local = tensor.contiguous();
  checkCpuContiguous(local, "all-gather");
  std::vector<int64_t> shape = {size_};
  for (const auto d : local.sizes()) shape.push_back(d);
  auto out = torch::empty(shape, local.options());
  MPI_Request request = MPI_REQUEST_NULL;
  TSN_CHECK_MPI(MPI_Iallgather(local.data_ptr(), static_cast<int>(local.numel()), mpiType(local),
                               out.data_ptr(), static_cast<int>(local.numel()), mpiType(local),
                               comm_, &request));
  MpiWork(request, "all-gather", timeoutS_, out).wait();
  return out;
}

void MpiCommunicator::broadcast(torch::Tensor& tensor, int root) {
  checkCpuContiguous(tensor, "broadcast");
  MPI_Request request = MPI_REQUEST_NULL;
  TSN_CHECK_MPI(MPI_Ibcast(tensor.data_ptr(), static_cast<int>(tensor.numel()), mpiType(tensor),
                           root, comm_, &request));
  MpiWork(request, fmt::format("broadcast of {} values", tensor.numel()), timeoutS_, tensor).wait();
}

void MpiCommunicator::barrier() {
  MPI_Request request = MPI_REQUEST_NULL;
  TSN_CHECK_MPI(MPI_Ibarrier(comm_, &request));
  MpiWork(request, "barrier", timeoutS_, {}).wait();
}

}  // namespace tsn
