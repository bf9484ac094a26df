// The NCCL backend under mpirun: one GPU per rank. Every test skips (and CTest reports it
// skipped) where LibTorch sees fewer GPUs than this node runs ranks.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <thread>

#include "common/Error.h"
#include "distributed/GradientReducer.h"
#include "distributed/MpiCommunicator.h"
#include "distributed/MpiTestWorld.h"
#include "distributed/NcclCommunicator.h"

namespace tsn {
namespace {

using ::testing::AllOf;
using testing::gWorld;
using ::testing::HasSubstr;

class Nccl : public ::testing::Test {
 protected:
  void SetUp() override {
    const int gpus =
        torch::cuda::is_available() ? static_cast<int>(torch::cuda::device_count()) : 0;
    if (gpus < gWorld->localSize()) {
      GTEST_SKIP() << "needs one GPU per rank: LibTorch sees " << gpus << " GPUs for "
                   << gWorld->localSize() << " ranks on this node";
    }
  }
  torch::TensorOptions on(const NcclCommunicator& comm) const {
    return torch::TensorOptions().device(torch::kCUDA, comm.device());
  }
};

TEST_F(Nccl, AllReduceSumsAndMaxesEverySizeAndDtype) {
  NcclCommunicator comm(*gWorld, 60);
  EXPECT_EQ(comm.backendName(), "nccl");
  EXPECT_EQ(comm.device(), gWorld->localRank());
  const int n = comm.size(), r = comm.rank();
  for (const int64_t size : {1, 7, 1000, 1 << 20}) {
    for (const auto dtype : {torch::kFloat32, torch::kFloat16, torch::kBFloat16, torch::kInt64}) {
      // Values small enough to be exact in every dtype.
      auto t = (torch::arange(size, torch::kFloat64) % 7 + r).to(on(comm).dtype(dtype));
      comm.allReduce(t, ReduceOp::Sum);
      const auto expected = ((torch::arange(size, torch::kFloat64) % 7) * n + n * (n - 1) / 2.0);
      EXPECT_TRUE(torch::equal(t.cpu().to(torch::kFloat64), expected)) << size << " " << dtype;
      auto m = torch::full({size}, r, on(comm).dtype(dtype));
      comm.allReduce(m, ReduceOp::Max);
      EXPECT_TRUE(
          torch::equal(m.cpu().to(torch::kFloat64), torch::full({size}, n - 1.0, torch::kFloat64)));
    }
  }
}

TEST_F(Nccl, BroadcastAllGatherAndCpuTensorsOverMpi) {
  NcclCommunicator comm(*gWorld, 60);
  auto t = torch::full({5}, comm.rank() + 10.0, on(comm));
  comm.broadcast(t, comm.size() - 1);
  EXPECT_TRUE(torch::equal(t.cpu(), torch::full({5}, comm.size() + 9.0)));
  const auto g = comm.allGather(torch::full({2, 3}, comm.rank() * 1.0, on(comm))).cpu();
  ASSERT_EQ(g.sizes(), (std::vector<int64_t>{comm.size(), 2, 3}));
  for (int k = 0; k < comm.size(); ++k)
    EXPECT_TRUE(torch::equal(g[k], torch::full({2, 3}, k * 1.0)));
  auto counts = torch::tensor({int64_t{1}, int64_t{comm.rank()}});
  comm.allReduce(counts);
  EXPECT_EQ(counts[0].item<int64_t>(), comm.size());
}

TEST_F(Nccl, TheReducerAveragesGradientsOfCudaParameters) {
  NcclCommunicator comm(*gWorld, 60);
  torch::manual_seed(0);  // the same parameters on every rank
  std::vector<torch::Tensor> params;
  for (const int64_t numel : {3, 300000, 5, 1 << 20}) {
    params.push_back(torch::randn({numel}, on(comm)).requires_grad_());
  }
  GradientReducer reducer(params, comm, /*bucketMb=*/1.0);
  EXPECT_GE(reducer.bucketCount(), 2u);
  torch::Tensor loss = torch::zeros({}, on(comm));
  for (const auto& p : params) loss = loss + (p * (comm.rank() + 1)).sum();
  loss.backward();
  reducer.finish();
  const double mean = (comm.size() + 1) / 2.0;
  for (const auto& p : params) {
    EXPECT_TRUE(torch::allclose(p.grad().cpu(), torch::full({p.numel()}, mean)));
  }
}

// The set-up is bounded too: rank 1 takes part in the unique id's broadcast (as the constructor
// does, over MPI) but never joins NCCL; rank 0's constructor throws within the deadline, naming
// it, instead of waiting in ncclCommInitRank for ever.
TEST_F(Nccl, ARankThatNeverJoinsTheSetUpIsNamed) {
  if (gWorld->size() < 2) GTEST_SKIP() << "needs a second rank to stay away";
  MpiCommunicator after(*gWorld, 60.0);
  if (gWorld->rank() != 1) {
    EXPECT_THAT([&] { NcclCommunicator joining(*gWorld, 2.0); },
                ::testing::ThrowsMessage<Error>(
                    AllOf(HasSubstr("NCCL communicator set-up"), HasSubstr("did not complete"),
                          HasSubstr("rank 1 (" + gWorld->hosts()[1] + ") did not arrive"))));
  } else {
    MpiCommunicator idOnly(*gWorld, 60.0);  // the constructor's own MPI communicator
    auto id = torch::zeros({128}, torch::kUInt8);
    idOnly.broadcast(id, 0);
    std::this_thread::sleep_for(std::chrono::seconds(6));
  }
  after.barrier();
}

// Last: aborts the communicator. Rank 1 stalls past the deadline, then destroys its own, which
// must not wait for ever for rank 0's (aborted) one either.
TEST_F(Nccl, AStalledRankTripsTheTimeoutAbortsAndIsNamed) {
  if (gWorld->size() < 2) GTEST_SKIP() << "needs a second rank to stall";
  NcclCommunicator comm(*gWorld, 60.0);
  NcclCommunicator strict(*gWorld, 2.0);
  auto t = torch::ones({8}, on(strict));
  strict.allReduce(t);
  if (strict.rank() != 1) {
    EXPECT_THAT([&] { strict.allReduce(t); },
                ::testing::ThrowsMessage<Error>(
                    AllOf(HasSubstr("did not complete within"), HasSubstr("aborted"),
                          HasSubstr("rank 1 (" + gWorld->hosts()[1] + ") did not arrive"))));
    EXPECT_THAT([&] { strict.allReduce(t); },
                ::testing::ThrowsMessage<Error>(HasSubstr("aborted after an earlier failure")));
  } else {
    std::this_thread::sleep_for(std::chrono::seconds(6));
  }
  comm.barrier();
}

}  // namespace
}  // namespace tsn
