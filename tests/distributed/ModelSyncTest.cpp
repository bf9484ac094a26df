// Data parallelism end to end under mpirun: the start broadcast, N ranks x b = 1 x N*b, BatchNorm
// statistics averaged, fingerprints.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "common/Error.h"
#include "distributed/GradientReducer.h"
#include "distributed/ModelSync.h"
#include "distributed/MpiCommunicator.h"
#include "distributed/MpiTestWorld.h"
#include "model/Tsn.h"
#include "train/RunSetup.h"

namespace tsn {
namespace {

using testing::gWorld;
using ::testing::HasSubstr;

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

// After the broadcast (buildModel) each rank seeds its own stream: the ranks' dropout masks differ
// (with one seed for all, every rank would drop the same units).
TEST(DataParallel, AfterTheStartEachRankDrawsItsOwnDropoutMasks) {
  MpiCommunicator comm(*gWorld, 60);
  seedRankStreams(/*runSeed=*/0, comm.rank(), /*step=*/0);
  torch::nn::Dropout dropout(0.5);
  const auto mask = dropout(torch::ones({256})).ne(0).to(torch::kFloat32);
  const auto masks = comm.allGather(mask);
  for (int a = 0; a < comm.size(); ++a) {
    for (int b = a + 1; b < comm.size(); ++b) {
      EXPECT_FALSE(torch::equal(masks[a], masks[b])) << "ranks " << a << " and " << b;
    }
  }
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
    for (auto& p : parallel->parameters()) p.mutable_grad().reset();  // views of the buckets
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

TEST(DataParallel, AveragingStatisticsThatAreAlreadyOneLeavesThemBitwise) {
  // After a resume every rank starts from the same averaged statistics and a validation that
  // was cut short averages them again: that must change nothing (in float32, a + a + a rounds).
  MpiCommunicator comm(*gWorld, 60);
  auto bn = torch::nn::BatchNorm2d(64);
  torch::NoGradGuard noGrad;
  torch::manual_seed(5);  // the same values on every rank
  bn->running_mean.copy_(torch::randn({64}));
  bn->running_var.copy_(torch::rand({64}) * 3);
  const auto mean = bn->running_mean.clone(), var = bn->running_var.clone();
  averageBuffers(*bn, comm);
  EXPECT_TRUE(torch::equal(bn->running_mean, mean));
  EXPECT_TRUE(torch::equal(bn->running_var, var));
}

TEST(DataParallel, GatheredBuffersAreEveryRanksOwnBitwise) {
  MpiCommunicator comm(*gWorld, 60);
  auto bn = torch::nn::BatchNorm2d(8);
  torch::NoGradGuard noGrad;
  torch::manual_seed(20 + comm.rank());
  bn->running_mean.copy_(torch::randn({8}));
  const auto all = comm.allGather(bn->running_mean.clone());
  const auto gathered = gatherBuffers(*bn, comm);
  ASSERT_EQ(gathered.size(), 2u);  // running_mean and running_var; not num_batches_tracked
  const auto& means = gathered.at("running_mean");
  EXPECT_EQ(means.sizes(), (std::vector<int64_t>{comm.size(), 8}));
  EXPECT_EQ(means.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::equal(means, all));
  EXPECT_TRUE(torch::equal(gathered.at("running_var")[comm.rank()], bn->running_var));
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
}  // namespace
}  // namespace tsn
