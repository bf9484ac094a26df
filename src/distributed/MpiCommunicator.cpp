#include "distributed/MpiCommunicator.h"

#include <chrono>
#include <functional>
#include <thread>

#include "common/Error.h"
#include "distributed/MpiError.h"

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

/// An MPI request waited on with a deadline: tested in a loop (by the caller, or by the
/// progress thread that took it over) so a stalled peer cannot block this rank forever. On
/// timeout `missing` names the ranks that did not arrive.
class MpiWork final : public DeadlineWork {
 public:
  MpiWork(MPI_Request request, std::shared_ptr<MpiCompletion> completion, std::string what,
          int rank, double timeoutS, torch::Tensor keepAlive, std::function<std::string()> missing)
      : DeadlineWork(std::move(what), rank, timeoutS, std::move(keepAlive), std::move(missing)),
        request_(request),
        completion_(std::move(completion)) {}

  bool poll() override {
    if (completion_) {
      const auto state = completion_->state.load();
      if (state == MpiCompletion::Failed) TSN_CHECK_MPI(completion_->code);
      return state == MpiCompletion::Done;
    }
    if (request_ == MPI_REQUEST_NULL) return true;
    int done = 0;
    TSN_CHECK_MPI(MPI_Test(&request_, &done, MPI_STATUS_IGNORE));
    return done != 0;
  }

 private:
  MPI_Request request_;
  std::shared_ptr<MpiCompletion> completion_;  ///< set when the progress thread tests it
};

/// "rank 1 (node2) did not arrive", "ranks 2 (node2), 3 (node2) ..."
std::string describeRanks(const std::vector<int>& ranks, const std::vector<std::string>& hosts,
                          const char* verb) {
  std::vector<std::string> named;
  for (const int r : ranks) named.push_back(fmt::format("{} ({})", r, hosts.at(r)));
  return fmt::format("{} {} {}", ranks.size() == 1 ? "rank" : "ranks", fmt::join(named, ", "),
                     verb);
}

}  // namespace

MpiCommunicator::MpiCommunicator(const MpiWorld& world, double timeoutS,
                                 std::chrono::microseconds progressInterval)
    : rank_(world.rank()),
      size_(world.size()),
      localRank_(world.localRank()),
      timeoutS_(timeoutS),
      hosts_(world.hosts()) {
  TSN_CHECK_MPI(MPI_Comm_dup(MPI_COMM_WORLD, &comm_));
  TSN_CHECK_MPI(MPI_Comm_dup(MPI_COMM_WORLD, &reportComm_));
  MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
  MPI_Comm_set_errhandler(reportComm_, MPI_ERRORS_RETURN);
  if (progressInterval.count() > 0 && world.threadMultiple() && size_ > 1) {
    progress_ = std::make_unique<MpiProgress>(progressInterval);
  }
}

MpiCommunicator::~MpiCommunicator() {
  progress_.reset();
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) return;
  if (comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
  if (reportComm_ != MPI_COMM_NULL) MPI_Comm_free(&reportComm_);
}

std::shared_ptr<Work> MpiCommunicator::track(MPI_Request request, std::string what,
                                             torch::Tensor keepAlive) {
  const uint64_t sequence = nextSequence();
  const double grace = std::min(timeoutS_, 10.0);
  auto completion = progress_ ? progress_->track(request) : nullptr;
  return std::make_shared<MpiWork>(
      request, std::move(completion), fmt::format("{} (collective #{})", what, sequence), rank_,
      timeoutS_, std::move(keepAlive),
      [this, sequence, grace] { return missingRanks(sequence, grace); });
}

std::string MpiCommunicator::missingRanks(uint64_t sequence, double graceS) {
  // Small eager messages: they leave even if the peer never calls MPI again.
  std::vector<uint64_t> reported(size_, 0);
  std::vector<MPI_Request> receives;
  std::vector<int> peers;
  for (int peer = 0; peer < size_; ++peer) {
    if (peer == rank_) continue;
    MPI_Request send = MPI_REQUEST_NULL, receive = MPI_REQUEST_NULL;
    if (MPI_Isend(&sequence, 1, MPI_UINT64_T, peer, 0, reportComm_, &send) != MPI_SUCCESS ||
        MPI_Irecv(&reported[peer], 1, MPI_UINT64_T, peer, 0, reportComm_, &receive) !=
            MPI_SUCCESS) {
      return "could not ask the other ranks which of them arrived";
    }
    MPI_Request_free(&send);
    receives.push_back(receive);
    peers.push_back(peer);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(graceS);
  std::vector<bool> heard(peers.size(), false);
  size_t waiting = peers.size();
  while (waiting > 0 && std::chrono::steady_clock::now() < deadline) {
    for (size_t i = 0; i < peers.size(); ++i) {
      int done = 0;
      if (!heard[i] && MPI_Test(&receives[i], &done, MPI_STATUS_IGNORE) == MPI_SUCCESS && done) {
        heard[i] = true;
        --waiting;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::vector<int> silent, behind;
  for (size_t i = 0; i < peers.size(); ++i) {
    if (!heard[i]) {
      silent.push_back(peers[i]);
    } else if (reported[peers[i]] < sequence) {
      behind.push_back(peers[i]);
    }
  }
  std::vector<std::string> parts;
  if (!silent.empty())
    parts.push_back(describeRanks(silent, hosts_, "did not arrive (stalled or died)"));
  if (!behind.empty())
    parts.push_back(describeRanks(behind, hosts_, "timed out in an earlier collective"));
  if (parts.empty()) return "every rank arrived late; raise dist.timeout_s";
  return fmt::format("{}", fmt::join(parts, "; "));
}

std::shared_ptr<Work> MpiCommunicator::allReduceAsync(torch::Tensor& tensor, ReduceOp op) {
  checkCpuContiguous(tensor, "all-reduce");
  MPI_Request request = MPI_REQUEST_NULL;
  TSN_CHECK_MPI(MPI_Iallreduce(MPI_IN_PLACE, tensor.data_ptr(), static_cast<int>(tensor.numel()),
                               mpiType(tensor), op == ReduceOp::Sum ? MPI_SUM : MPI_MAX, comm_,
                               &request));
  return track(request, fmt::format("all-reduce of {} values", tensor.numel()), tensor);
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
  track(request, "all-gather", out)->wait();
  return out;
}

void MpiCommunicator::broadcast(torch::Tensor& tensor, int root) {
  checkCpuContiguous(tensor, "broadcast");
  MPI_Request request = MPI_REQUEST_NULL;
  TSN_CHECK_MPI(MPI_Ibcast(tensor.data_ptr(), static_cast<int>(tensor.numel()), mpiType(tensor),
                           root, comm_, &request));
  track(request, fmt::format("broadcast of {} values", tensor.numel()), tensor)->wait();
}

void MpiCommunicator::barrier() {
  MPI_Request request = MPI_REQUEST_NULL;
  TSN_CHECK_MPI(MPI_Ibarrier(comm_, &request));
  track(request, "barrier", {})->wait();
}

}  // namespace tsn
