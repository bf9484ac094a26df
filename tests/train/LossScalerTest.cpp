#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "common/Error.h"
#include "train/LossScaler.h"

namespace tsn {
namespace {

using ::testing::HasSubstr;

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

}  // namespace
}  // namespace tsn
