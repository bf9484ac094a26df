// Training on a GPU: what the CPU suites check, on CUDA, and what only a GPU has (fp16 with loss
// scaling, pinned batches, the CUDA generator in checkpoints, the fused unscale kernel). Every
// test skips where LibTorch sees no GPU, and CTest reports it skipped, never passed.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>

#include "checkpoint/Checkpoint.h"
#include "config/Config.h"
#include "data/ClipLoader.h"
#include "distributed/Communicator.h"
#include "model/Precision.h"
#include "model/Tsn.h"
#include "model/Weights.h"
#include "support/TestSupport.h"
#include "train/LossScaler.h"
#include "train/Sgd.h"
#include "train/ShortRun.h"
#include "train/Trainer.h"

namespace tsn {
namespace {

const torch::Device kGpu(torch::kCUDA, 0);

class CudaTraining : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!torch::cuda::is_available()) GTEST_SKIP() << "needs a GPU: LibTorch sees none";
    // Exact comparisons below: no TF32 in convolutions or matrix products.
    at::globalContext().setAllowTF32CuDNN(false);
    at::globalContext().setAllowTF32CuBLAS(false);
  }
};

TEST_F(CudaTraining, AutocastRunsConvolutionsInBf16AndFp16AndRestoresFp32) {
  auto conv = torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 4, 3));
  conv->to(kGpu);
  const auto x = torch::randn({2, 3, 8, 8}, kGpu);
  {
    AutocastScope scope(kGpu, Precision::Bf16);
    EXPECT_EQ(conv(x).scalar_type(), torch::kBFloat16);
  }
  {
    AutocastScope scope(kGpu, Precision::Fp16);
    EXPECT_EQ(conv(x).scalar_type(), torch::kHalf);
    EXPECT_EQ(torch::matmul(x, x).scalar_type(), torch::kHalf);
  }
  EXPECT_EQ(conv(x).scalar_type(), torch::kFloat32);
}

TEST_F(CudaTraining, LossScalerUnscalesOnTheGpuAndSkipsOverflow) {
  auto p = torch::zeros({3}, torch::TensorOptions().device(kGpu).requires_grad(true));
  auto q = torch::zeros({2, 2}, torch::TensorOptions().device(kGpu).requires_grad(true));
  LossScaler scaler(true, 1024.0, /*growthInterval=*/2);
  p.mutable_grad() = torch::tensor({1024.0F, 2048.0F, -512.0F}, kGpu);
  q.mutable_grad() = torch::full({2, 2}, 4096.0F, kGpu);
  EXPECT_TRUE(scaler.unscaleAndUpdate({p, q}));
  EXPECT_TRUE(torch::equal(p.grad().cpu(), torch::tensor({1.0F, 2.0F, -0.5F})));
  EXPECT_TRUE(torch::equal(q.grad().cpu(), torch::full({2, 2}, 4.0F)));
  q.mutable_grad() =
      torch::tensor({{1.0F, std::numeric_limits<float>::infinity()}, {0.0F, 0.0F}}, kGpu);
  EXPECT_FALSE(scaler.unscaleAndUpdate({p, q}));
  EXPECT_DOUBLE_EQ(scaler.scale(), 512.0);
  q.mutable_grad() = torch::tensor({{std::nanf(""), 0.0F}, {0.0F, 0.0F}}, kGpu);
  EXPECT_FALSE(scaler.unscaleAndUpdate({p, q}));
  EXPECT_DOUBLE_EQ(scaler.scale(), 256.0);
}

TEST_F(CudaTraining, ChannelsLastComputesTheScoresOfNchw) {
  testing::expectChannelsLastScoresLikeNchw(kGpu);
}

TEST_F(CudaTraining, LoaderPinsBatchesForNonBlockingCopies) {
  testing::TempDir dir("cuda_pinned");
  const Config c = testing::shortRun(dir, "work");
  ASSERT_TRUE(c.data.pinMemory);
  auto loader = makeClipLoader(c, c.data.trainList, true);
  loader->startEpoch(0, 0);
  const auto batch = loader->next();
  ASSERT_TRUE(batch.has_value());
  EXPECT_TRUE(batch->clips.is_pinned());
  EXPECT_TRUE(batch->labels.is_pinned());
  // Training batches go to the GPU as pixels, a quarter of float32's bytes.
  EXPECT_EQ(batch->clips.scalar_type(), torch::kUInt8);
}

/// The same short run in each precision on the GPU learns far above chance (0.25); fp16 with
/// loss scaling does not skip every step.
class CudaPrecision : public CudaTraining, public ::testing::WithParamInterface<std::string> {};

TEST_P(CudaPrecision, ShortRunLearns) {
  testing::TempDir dir("cuda_training_" + GetParam());
  std::vector<std::string> overrides;
  if (GetParam() == "bf16_channels_last") {
    overrides = {"train.precision=bf16", "train.channels_last=true"};
  }
  if (GetParam() == "fp16") overrides = {"train.precision=fp16"};
  const Config c = testing::shortRun(dir, "work", overrides);
  torch::manual_seed(0);
  const TrainResult result = testing::train(c, Tsn(c.model), kGpu);
  EXPECT_EQ(result.steps, 12 * 6);
  EXPECT_LT(result.skippedSteps, result.steps / 4) << "loss scaling skipped most steps";
  EXPECT_EQ(result.lastValidation.clips, 16);
  EXPECT_GE(result.lastValidation.top1, 0.75);
  // The host waits for the GPU once per log window (3 steps), fp16's overflow check aside, and
  // copies uint8 clips plus int64 labels to it.
  std::ifstream in(dir.path() / "work" / "metrics.jsonl");
  const double clipBytes = 8.0 * c.model.segNum * 3 * c.data.targetSize * c.data.targetSize;
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line);
    if (j["mode"] != "train") continue;
    if (GetParam() != "fp16") EXPECT_DOUBLE_EQ(j["host_waits_per_step"].get<double>(), 1.0 / 3);
    EXPECT_DOUBLE_EQ(j["h2d_bytes_per_step"].get<double>(), clipBytes + 8 * 8) << line;
  }
}

INSTANTIATE_TEST_SUITE_P(Gpu, CudaPrecision,
                         ::testing::Values("fp32", "bf16_channels_last", "fp16"));

TEST_F(CudaTraining, SgdMatchesLibTorchsSgdOnTheGpu) {
  // Our multi-tensor SGD against torch::optim::SGD over 3 steps: a channels-last weight, a bias,
  // and a parameter that gets its first gradient only at step 2.
  torch::manual_seed(0);
  std::vector<torch::Tensor> ours = {
      torch::randn({8, 4, 3, 3}, kGpu).contiguous(torch::MemoryFormat::ChannelsLast),
      torch::randn({8}, kGpu), torch::randn({5, 3}, kGpu)};
  std::vector<torch::Tensor> theirs;
  std::vector<std::pair<std::string, torch::Tensor>> named;
  for (size_t k = 0; k < ours.size(); ++k) {
    theirs.push_back(ours[k].clone().set_requires_grad(true));
    ours[k].set_requires_grad(true);
    named.emplace_back("p" + std::to_string(k), ours[k]);
  }
  Sgd sgd(named, 0.9, 1e-3);
  torch::optim::SGD reference(theirs,
                              torch::optim::SGDOptions(0.1).momentum(0.9).weight_decay(1e-3));
  for (int step = 0; step < 3; ++step) {
    sgd.zeroGrad();
    reference.zero_grad();
    for (size_t k = 0; k < ours.size(); ++k) {
      if (k == 2 && step == 0) continue;  // no gradient yet
      const auto grad = torch::randn_like(ours[k]);
      ours[k].mutable_grad() = grad.clone();
      theirs[k].mutable_grad() = grad.clone();
    }
    sgd.step(0.1);
    reference.step();
    for (size_t k = 0; k < ours.size(); ++k) {
      EXPECT_TRUE(torch::allclose(ours[k], theirs[k], 1e-6, 1e-6)) << "parameter " << k;
    }
  }
  EXPECT_EQ(sgd.momentum().size(), 3u);
}

TEST_F(CudaTraining, CheckpointResumesBitwiseAndScoresTheSameOnTheCpu) {
  // Reproducible GPU arithmetic: deterministic algorithms, cuBLAS with a fixed workspace (the
  // variable must be set before cuBLAS starts, so this test runs first in its own process
  // under CTest).
  setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8", 1);
  at::globalContext().setDeterministicAlgorithms(true, false);
  at::globalContext().setBenchmarkCuDNN(false);
  testing::TempDir dir("cuda_resume");
  const Checkpoint a = testing::expectResumeEqualsUninterrupted(dir, kGpu);
  const ModelConfig model = testing::shortRun(dir, "whole").model;

  // The weights the GPU run saved score on the CPU as on the GPU.
  Tsn onGpu(model), onCpu(model);
  loadWeights(onGpu, a.model, "a.pt");
  loadWeights(onCpu, a.model, "a.pt");
  onGpu->to(kGpu);
  onGpu->eval();
  onCpu->eval();
  torch::NoGradGuard noGrad;
  const auto clips = torch::randn({2, 3, 3, 32, 32});
  EXPECT_TRUE(torch::allclose(onGpu(clips.to(kGpu)).cpu(), onCpu(clips), 1e-4, 1e-4));
}

}  // namespace
}  // namespace tsn
