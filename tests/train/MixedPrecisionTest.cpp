#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "common/Error.h"
#include "model/Tsn.h"
#include "train/MixedPrecision.h"
#include "train/ShortRun.h"

namespace tsn {
namespace {

using ::testing::HasSubstr;

TEST(AutocastScope, RunsConvolutionsInBf16OnCpuAndRestoresFp32) {
  auto conv = torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 4, 3));
  const auto x = torch::randn({2, 3, 8, 8});
  {
    AutocastScope outer(torch::kCPU, Precision::Bf16);
    EXPECT_EQ(conv(x).scalar_type(), torch::kBFloat16);
    {
      AutocastScope inner(torch::kCPU, Precision::Fp32);  // fp32 leaves the outer scope alone
      EXPECT_EQ(conv(x).scalar_type(), torch::kBFloat16);
    }
    EXPECT_EQ(torch::matmul(x, x).scalar_type(), torch::kBFloat16);
  }
  EXPECT_EQ(conv(x).scalar_type(), torch::kFloat32);
}

TEST(AutocastScope, Fp16IsRefusedOnCpu) {
  EXPECT_THAT([] { checkPrecision(Precision::Fp16, torch::kCPU); },
              ::testing::ThrowsMessage<ConfigError>(HasSubstr("fp16 needs a GPU")));
  EXPECT_NO_THROW(checkPrecision(Precision::Bf16, torch::kCPU));
}

TEST(LossScaler, UnscalesGrowsAfterGoodStepsAndHalvesOnOverflow) {
  auto p = torch::zeros({3}, torch::requires_grad());
  LossScaler scaler(true, 1024.0, /*growthInterval=*/2);
  auto setGrad = [&](const torch::Tensor& g) { p.mutable_grad() = g.clone(); };

  EXPECT_DOUBLE_EQ(scaler.scaleLoss(torch::tensor(2.0)).item<double>(), 2048.0);
  setGrad(torch::tensor({1024.0, 2048.0, -512.0}));
  EXPECT_TRUE(scaler.unscaleAndUpdate({p}));
  EXPECT_TRUE(torch::equal(p.grad(), torch::tensor({1.0, 2.0, -0.5})));
  EXPECT_DOUBLE_EQ(scaler.scale(), 1024.0);
  setGrad(torch::ones({3}));
  EXPECT_TRUE(scaler.unscaleAndUpdate({p}));
  EXPECT_DOUBLE_EQ(scaler.scale(), 2048.0);  // two good steps in a row

  setGrad(torch::tensor({1.0, std::numeric_limits<double>::infinity(), 0.0}));
  EXPECT_FALSE(scaler.unscaleAndUpdate({p}));
  EXPECT_DOUBLE_EQ(scaler.scale(), 1024.0);
  EXPECT_EQ(scaler.goodSteps(), 0);
  setGrad(torch::tensor({std::nan(""), 0.0, 0.0}));
  EXPECT_FALSE(scaler.unscaleAndUpdate({p}));
  EXPECT_DOUBLE_EQ(scaler.scale(), 512.0);
}

TEST(LossScaler, DisabledIsTheIdentity) {
  auto p = torch::zeros({2}, torch::requires_grad());
  p.mutable_grad() = torch::tensor({3.0, std::numeric_limits<double>::infinity()});
  LossScaler scaler(false);
  EXPECT_DOUBLE_EQ(scaler.scaleLoss(torch::tensor(2.0)).item<double>(), 2.0);
  EXPECT_TRUE(scaler.unscaleAndUpdate({p}));  // overflow is train.check_finite's business
  EXPECT_EQ(p.grad()[0].item<double>(), 3.0);
}

TEST(ChannelsLast, StoresWeightsNhwcAndComputesTheSameScores) {
  testing::expectChannelsLastScoresLikeNchw(torch::kCPU);
}

}  // namespace
}  // namespace tsn
