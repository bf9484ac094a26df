#pragma once
/// @file What the training suites share (CPU: TrainingTest, MixedPrecisionTest; GPU:
/// CudaTrainingTest): a short run on a small synthetic set, and the channels-last check.

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "checkpoint/Checkpoint.h"
#include "config/Config.h"
#include "data/ClipLoader.h"
#include "distributed/Communicator.h"
#include "model/Tsn.h"
#include "support/TestSupport.h"
#include "train/Trainer.h"

namespace tsn::testing {

/// 12 epochs of a tiny ResNet-18 on 4 classes x 16 synthetic videos (48 train, 16 val, made once
/// in `dir`/data), work dir `dir`/`work`; `overrides` as --set would give them.
inline Config shortRun(const TempDir& dir, const std::string& work,
                       const std::vector<std::string>& overrides = {}) {
  const auto data = syntheticDataset(dir.path() / "data", 4, 16, 30, 10);
  Config c = parseConfig(fmt::format(R"(
[model]
backbone = "resnet18"
width = 8
num_classes = 4
dropout = 0.0
{0}[train]
epochs = 12
batch_size = 8
lr = 0.01
lr_decay_epochs = [9]
warmup_epochs = 1
log_interval = 3
val_interval = 4
work_dir = "{1}"
[eval]
batch_size = 16
)",
                                     syntheticDataSection(data), (dir.path() / work).string()),
                         "short_run.toml", overrides);
  std::filesystem::create_directories(c.train.workDir);
  return c;
}

/// Weights stored channels-last compute what the same weights compute stored NCHW, on `device`.
inline void expectChannelsLastScoresLikeNchw(const torch::Device& device) {
  ModelConfig m;
  m.backbone = "resnet18";
  m.width = 8;
  m.numClasses = 5;
  m.dropout = 0;
  torch::manual_seed(0);
  Tsn plain(m), nhwc(m);
  torch::NoGradGuard noGrad;
  for (const auto& p : plain->named_parameters()) {
    nhwc->named_parameters()[p.key()].copy_(p.value());
  }
  plain->to(device);
  nhwc->to(device);
  nhwc->useChannelsLast();
  const auto& w = nhwc->named_parameters()["backbone.conv1.weight"];
  EXPECT_TRUE(w.is_contiguous(torch::MemoryFormat::ChannelsLast));
  EXPECT_FALSE(w.is_contiguous());
  plain->eval();
  nhwc->eval();
  const auto clips = torch::randn({2, 3, 3, 32, 32}).to(device);
  EXPECT_TRUE(torch::allclose(plain(clips).cpu(), nhwc(clips).cpu(), 1e-4, 1e-5));
}

/// Trains `c` on one rank on `device`, from `resumeFrom` when given.
inline TrainResult train(const Config& c, Tsn model, const torch::Device& device,
                         const Checkpoint* resumeFrom = nullptr) {
  LocalCommunicator comm;
  auto trainLoader = makeClipLoader(c, c.data.trainList, true);
  auto valLoader = makeClipLoader(c, c.data.valList, false);
  model->to(device);
  Trainer trainer(c, model, *trainLoader, *valLoader, comm, device);
  if (resumeFrom != nullptr) trainer.restore(*resumeFrom, "resumed.pt");
  return trainer.run();
}

/// Two epochs with dropout (random numbers on `device`), run whole and stopped after step 8
/// and resumed in a new trainer: the final checkpoints hold bitwise the same weights and
/// momentum. Returns the uninterrupted run's checkpoint.
inline Checkpoint expectResumeEqualsUninterrupted(const TempDir& dir, const torch::Device& device) {
  const std::vector<std::string> twoEpochs = {"train.epochs=2", "train.lr_decay_epochs=[1]",
                                              "model.dropout=0.5"};
  const Config whole = shortRun(dir, "whole", twoEpochs);
  torch::manual_seed(0);
  const TrainResult uninterrupted = train(whole, Tsn(whole.model), device);

  auto stopAt8 = twoEpochs;
  stopAt8.push_back("train.max_steps=8");
  Config first = shortRun(dir, "resumed", stopAt8);
  torch::manual_seed(0);
  const TrainResult stopped = train(first, Tsn(first.model), device);
  EXPECT_EQ(stopped.steps, 8);
  const Checkpoint ckpt = readCheckpoint(stopped.lastCheckpoint);
  EXPECT_EQ(ckpt.rngCuda.defined(), device.is_cuda()) << "the CUDA generator state";
  Config rest = first;
  rest.train.maxSteps = 0;
  torch::manual_seed(123);  // whatever the generators hold, the checkpoint's states win
  const TrainResult resumed = train(rest, Tsn(rest.model), device, &ckpt);
  EXPECT_EQ(resumed.steps, uninterrupted.steps);

  Checkpoint a = readCheckpoint(uninterrupted.lastCheckpoint);
  const Checkpoint b = readCheckpoint(resumed.lastCheckpoint);
  EXPECT_EQ(a.model.size(), b.model.size());
  for (const auto& [name, tensor] : a.model) {
    EXPECT_TRUE(b.model.count(name) && torch::equal(tensor, b.model.at(name)))
        << name << " differs after resuming";
  }
  EXPECT_EQ(a.momentum.size(), b.momentum.size());
  for (const auto& [name, tensor] : a.momentum) {
    EXPECT_TRUE(b.momentum.count(name) && torch::equal(tensor, b.momentum.at(name)))
        << "momentum of " << name;
  }
  return a;
}

}  // namespace tsn::testing
