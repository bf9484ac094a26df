#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <thread>

#include "common/Error.h"
#include "dist/GradientReducer.h"
#include "dist/ModelSync.h"
#include "dist/MpiCommunicator.h"
#include "dist/MpiTestWorld.h"
#include "model/Tsn.h"

namespace tsn {
namespace {

using ::testing::AllOf;
using testing::gWorld;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(MpiCommunicator, KnowsItsPlaceInTheWorld) {
  MpiCommunicator comm(*gWorld, 60);
  EXPECT_GE(comm.size(), 2);
  EXPECT_EQ(comm.rank(), gWorld->rank());
  // All ranks run on this one machine: the node rank is the world rank.
  EXPECT_EQ(comm.localRank(), comm.rank());
  EXPECT_EQ(gWorld->localSize(), comm.size());
}

TEST(MpiCommunicator, AllReduceSumsAndMaxesEverySizeAndDtype) {
  MpiCommunicator comm(*gWorld, 60);
  const int n = comm.size(), r = comm.rank();
  for (const int64_t size : {1, 7, 1000, 1 << 20}) {
    for (const auto dtype : {torch::kFloat32, torch::kFloat64, torch::kInt64, torch::kInt32}) {
      auto t = (torch::arange(size, torch::kFloat64) % 97 + r).to(dtype);
      comm.allReduce(t, ReduceOp::Sum);
      const auto expected =
          ((torch::arange(size, torch::kFloat64) % 97) * n + n * (n - 1) / 2.0).to(dtype);
      EXPECT_TRUE(torch::equal(t, expected)) << size << " " << dtype;
      auto m = torch::full({size}, r, dtype);
      comm.allReduce(m, ReduceOp::Max);
      EXPECT_TRUE(torch::equal(m, torch::full({size}, n - 1, dtype)));
    }
  }
  auto half = torch::ones({4}, torch::kFloat16);
  EXPECT_THAT(
      [&] { comm.allReduce(half); },
      ::testing::ThrowsMessage<Error>(HasSubstr("backend mpi does not support dtype Half")));
}

TEST(MpiCommunicator, BroadcastAndAllGather) {
  MpiCommunicator comm(*gWorld, 60);
  auto t = torch::full({5}, comm.rank() + 10, torch::kFloat32);
  comm.broadcast(t, comm.size() - 1);
  EXPECT_TRUE(torch::equal(t, torch::full({5}, comm.size() - 1 + 10, torch::kFloat32)));
  const auto all = comm.allGather(torch::tensor({comm.rank(), 2 * comm.rank()}, torch::kInt64));
  ASSERT_EQ(all.sizes(), (std::vector<int64_t>{comm.size(), 2}));
  for (int k = 0; k < comm.size(); ++k) {
    EXPECT_EQ(all[k][0].item<int64_t>(), k);
    EXPECT_EQ(all[k][1].item<int64_t>(), 2 * k);
  }
  comm.barrier();
}

TEST(GradientReducer, AveragesGradientsAcrossBucketBoundaries) {
  MpiCommunicator comm(*gWorld, 60);
  const int n = comm.size(), r = comm.rank();
  std::vector<torch::Tensor> params;
  for (const int64_t size : {3, 1000, 17, 50000, 1, 4096}) {
    params.push_back(torch::zeros({size}, torch::requires_grad()));
  }
  // ~10 KB buckets: the 50000-float tensor gets its own, small ones share.
  GradientReducer reducer(params, comm, 0.01);
  EXPECT_GE(reducer.bucketCount(), 4u);
  for (int step = 0; step < 3; ++step) {
    for (auto& p : params) p.mutable_grad() = torch::Tensor();
    auto loss = torch::zeros({});
    for (size_t k = 0; k < params.size(); ++k) {
      if (k == 4) continue;  // unused this step: averages to zero
      loss = loss + params[k].sum() * static_cast<double>((r + 1) * (k + 1) * (step + 1));
    }
    loss.backward();
    reducer.finish();
    for (size_t k = 0; k < params.size(); ++k) {
      const double expected = k == 4 ? 0.0 : (k + 1) * (step + 1) * (n + 1) / 2.0;
      EXPECT_TRUE(torch::allclose(params[k].grad(), torch::full_like(params[k], expected)))
          << "param " << k << " step " << step;
    }
  }
}

ModelConfig tinyModel() {
  ModelConfig m;
  m.backbone = "resnet18";
  m.width = 4;
  m.numClasses = 3;
  m.dropout = 0;
  return m;
}

TEST(DataParallel, DifferentlySeededRanksBecomeIdenticalAfterTheStartBroadcast) {
  MpiCommunicator comm(*gWorld, 60);
  torch::manual_seed(100 + comm.rank());
  Tsn model(tinyModel());
  auto sum = torch::zeros({1}, torch::kFloat64);
  for (const auto& p : model->parameters()) sum += p.to(torch::kFloat64).abs().sum();
  auto spread = comm.allGather(sum);
  EXPECT_FALSE(torch::equal(spread[0], spread[1]));
  broadcastModule(*model, comm);
  sum.zero_();
  for (const auto& p : model->parameters()) sum += p.to(torch::kFloat64).abs().sum();
  for (const auto& b : model->buffers()) sum += b.to(torch::kFloat64).abs().sum();
  spread = comm.allGather(sum);
  for (int k = 1; k < comm.size(); ++k) EXPECT_TRUE(torch::equal(spread[k], spread[0]));
}

TEST(DataParallel, NRanksWithBatchBMatchOneRankWithBatchNTimesB) {
  // BatchNorm in eval mode (running statistics, nothing updated): the forward pass of a clip
  // does not depend on the rest of its batch, so the maths of both runs is the same and only
  // the summation order differs. Tolerance: 1e-5 relative, 1e-6 absolute after 3 SGD steps.
  MpiCommunicator comm(*gWorld, 60);
  const int n = comm.size(), r = comm.rank();
  const int64_t b = 2, steps = 3;
  torch::manual_seed(7);
  Tsn parallel(tinyModel());
  torch::manual_seed(7);
  Tsn single(tinyModel());
  parallel->eval();
  single->eval();
  const auto sgd = torch::optim::SGDOptions(0.1).momentum(0.9).weight_decay(1e-4);
  torch::optim::SGD parallelOpt(parallel->parameters(), sgd);
  torch::optim::SGD singleOpt(single->parameters(), sgd);
  GradientReducer reducer(parallel->parameters(), comm, 0.05);

  torch::manual_seed(11);  // the same global batches on every rank
  for (int64_t step = 0; step < steps; ++step) {
    const auto clips = torch::randn({n * b, 3, 3, 32, 32});
    const auto labels = torch::randint(0, 3, {n * b}, torch::kInt64);
    parallelOpt.zero_grad();
    torch::cross_entropy_loss(parallel->forward(clips.narrow(0, r * b, b)),
                              labels.narrow(0, r * b, b))
        .backward();
    reducer.finish();
    parallelOpt.step();
    singleOpt.zero_grad();
    torch::cross_entropy_loss(single->forward(clips), labels).backward();
    singleOpt.step();
  }
  const auto a = parallel->named_parameters();
  for (const auto& p : single->named_parameters()) {
    EXPECT_TRUE(torch::allclose(a[p.key()], p.value(), 1e-5, 1e-6))
        << p.key() << " max diff " << (a[p.key()] - p.value()).abs().max().item<double>();
  }
}

TEST(DataParallel, BatchNormStatisticsAreAveragedOverRanks) {
  MpiCommunicator comm(*gWorld, 60);
  auto bn = torch::nn::BatchNorm2d(4);
  torch::NoGradGuard noGrad;
  bn->running_mean.fill_(comm.rank());
  bn->running_var.fill_(2.0 * comm.rank());
  averageBuffers(*bn, comm);
  const double mean = (comm.size() - 1) / 2.0;
  EXPECT_TRUE(torch::allclose(bn->running_mean, torch::full({4}, mean)));
  EXPECT_TRUE(torch::allclose(bn->running_var, torch::full({4}, 2 * mean)));
  EXPECT_EQ(bn->num_batches_tracked.item<int64_t>(), 0);  // integers are left alone
}

TEST(DataParallel, AFingerprintMismatchIsRefusedOnEveryRank) {
  MpiCommunicator comm(*gWorld, 60);
  Fingerprint same{1, 2, 3, 4, static_cast<uint64_t>(comm.size())};
  EXPECT_NO_THROW(checkFingerprint(same, comm));
  Fingerprint differs = same;
  if (comm.rank() == 1) differs.config = 99;
  EXPECT_THAT([&] { checkFingerprint(differs, comm); },
              ::testing::ThrowsMessage<Error>(
                  HasSubstr("rank 1 differs from rank 0 in its resolved config")));
}

// Last: leaves requests behind (completed once rank 1 arrives). Rank 1 stalls; every other
// rank times out within the deadline plus the grace for reports, naming rank 1 alone.
TEST(MpiCommunicator, ACollectiveAStalledRankNeverJoinsTripsTheTimeoutNamingIt) {
  MpiCommunicator comm(*gWorld, 1.0);
  auto t = torch::ones({8});
  comm.allReduce(t);  // a collective every rank completes first
  if (comm.rank() != 1) {
    const auto start = std::chrono::steady_clock::now();
    EXPECT_THAT([&] { comm.allReduce(t); },
                ::testing::ThrowsMessage<Error>(AllOf(
                    HasSubstr("all-reduce of 8 values (collective #2) did not complete within "
                              "dist.timeout_s=1 s"),
                    HasSubstr("rank 1 did not arrive"), Not(HasSubstr("earlier")))));
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 4.0);
  } else {
    std::this_thread::sleep_for(std::chrono::seconds(5));
    comm.allReduce(t);
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

}  // namespace
}  // namespace tsn
