#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "common/Error.h"
#include "train/Sgd.h"
#include "train/TrainingStep.h"

namespace tsn {
namespace {

using ::testing::HasSubstr;

// The clipping the step does on the device (no norm read back) is LibTorch's, bitwise: large
// gradients scaled down to the norm, small ones left alone.
TEST(ClipGradNorm, ScalesAsLibTorchDoesWithoutReadingTheNormBack) {
  for (const double maxNorm : {0.5, 1e6}) {
    torch::manual_seed(1);
    std::vector<torch::Tensor> ours, theirs;
    for (const int64_t n : {7, 300, 1}) {
      const auto g = torch::randn({n}) * 3;
      ours.push_back(torch::zeros({n}, torch::requires_grad()));
      theirs.push_back(torch::zeros({n}, torch::requires_grad()));
      ours.back().mutable_grad() = g.clone();
      theirs.back().mutable_grad() = g.clone();
    }
    const auto norm = clipGradNorm(ours, maxNorm);
    const double expected = torch::nn::utils::clip_grad_norm_(theirs, maxNorm);
    EXPECT_DOUBLE_EQ(norm.item<double>(), expected);
    for (size_t k = 0; k < ours.size(); ++k) {
      EXPECT_TRUE(torch::equal(ours[k].grad(), theirs[k].grad())) << k << " at " << maxNorm;
    }
  }
}

TEST(Sgd, MatchesTorchSgdAndRestoresItsMomentum) {
  torch::manual_seed(0);
  auto a = torch::randn({4, 3}, torch::requires_grad());
  auto b = a.detach().clone().requires_grad_();
  Sgd ours({{"w", a}}, 0.9, 1e-2);
  torch::optim::SGD theirs({b}, torch::optim::SGDOptions(0.1).momentum(0.9).weight_decay(1e-2));
  for (int i = 0; i < 3; ++i) {
    const auto g = torch::randn({4, 3});
    a.mutable_grad() = g.clone();
    b.mutable_grad() = g.clone();
    ours.step(0.1);
    theirs.step();
  }
  EXPECT_TRUE(torch::allclose(a, b, 1e-6, 1e-7));
  Sgd restored({{"w", b}}, 0.9, 1e-2);
  restored.setMomentum(ours.momentum(), "test");
  EXPECT_TRUE(torch::equal(restored.momentum().at("w"), ours.momentum().at("w")));
  EXPECT_THAT(
      [&] {
        restored.setMomentum({{"v", torch::zeros({1})}}, "k.pt");
      },
      ::testing::ThrowsMessage<Error>(HasSubstr("k.pt: momentum for v")));
}

}  // namespace
}  // namespace tsn
