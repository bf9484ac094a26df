#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "common/Error.h"
#include "model/Precision.h"
#include "model/Tsn.h"
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

TEST(ChannelsLast, StoresWeightsNhwcAndComputesTheSameScores) {
  testing::expectChannelsLastScoresLikeNchw(torch::kCPU);
}

}  // namespace
}  // namespace tsn
