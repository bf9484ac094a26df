// Training matches PyTorch step for step: tsn_dist saves its first steps (--save-steps), and
// tests/python/step_parity.py replays them with torchvision's ResNet and torch.optim.SGD
// (Debian's python3-torch) and compares losses, LRs, updates, BatchNorm statistics and momentum.
// Each comparison must also fail when the PyTorch side's update is perturbed by 1%.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "support/TestSupport.h"

namespace tsn {
namespace {

using ::testing::HasSubstr;

class ParityCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::make_unique<testing::TempDir>(
        std::string("parity_") + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    data_ = testing::syntheticDataset(dir_->path() / "data", 4, 8, 30, 10);
  }

  /// torchvision's ResNet-18 (width 64), no dropout (its random masks cannot be replayed), a
  /// warmup so the LR changes every step, weight decay and momentum.
  std::string config(const std::string& model) {
    const auto file = dir_->path() / "parity.toml";
    testing::writeFile(file, fmt::format(R"([model]
backbone = "resnet18"
num_classes = 4
dropout = 0.0
{0}
{1}[train]
epochs = 2
batch_size = 4
lr = 0.05
momentum = 0.9
weight_decay = 1e-3
warmup_epochs = 1
log_interval = 1
work_dir = "{2}"
)",
                                         model, testing::syntheticDataSection(data_),
                                         (dir_->path() / "work").string()));
    return file.string();
  }

  std::string latestCheckpoint() const {
    const auto dir = dir_->path() / "work" / "checkpoints";
    std::ifstream in(dir / "latest");
    std::string name;
    std::getline(in, name);
    return (dir / name).string();
  }

  /// The replay must match, and must not match when PyTorch's LR, momentum or weight decay is
  /// 1% off.
  void expectPyTorchReplaysTheSteps(const std::string& expectRanks) {
    const std::string script = "/usr/bin/python3 " + std::string(TSN_SOURCE_DIR) +
                               "/tests/python/step_parity.py " + (dir_->path() / "steps").string() +
                               " " + latestCheckpoint();
    const auto same = testing::run(script);
    EXPECT_EQ(same.exitCode, 0) << same.output;
    EXPECT_THAT(same.output, HasSubstr("3 steps on " + expectRanks + " rank(s)"));
    for (const char* what : {"lr", "momentum", "weight_decay"}) {
      const auto perturbed = testing::run(script + " --perturb " + what);
      EXPECT_EQ(perturbed.exitCode, 1) << what << ": " << perturbed.output;
      EXPECT_THAT(perturbed.output, HasSubstr("differences, first:")) << what;
    }
  }

  std::unique_ptr<testing::TempDir> dir_;
  std::filesystem::path data_;
};

TEST_F(ParityCli, OneRankMatchesPyTorchStepForStepWithPartialBn) {
  const auto r =
      testing::run(testing::binary("tsn_dist") + " --config " + config("partial_bn = true") +
                   " --debug --max-steps 3 --save-steps " + (dir_->path() / "steps").string());
  ASSERT_EQ(r.exitCode, 0) << r.output;
  expectPyTorchReplaysTheSteps("1");
}

TEST_F(ParityCli, TwoRanksOfBatchBMatchOneStepOfTwiceTheBatchInPyTorch) {
  // BatchNorm in eval mode (norm_eval): per-sample arithmetic, so 2 x 4 clips are one step of 8.
  const auto r = testing::run(
      std::string(TSN_MPIEXEC) +
      " --oversubscribe --bind-to none --allow-run-as-root -x OMP_NUM_THREADS=1 -np 2 " +
      testing::binary("tsn_dist") + " --config " + config("norm_eval = true") +
      " --max-steps 3 --set data.workers=0 --save-steps " + (dir_->path() / "steps").string());
  ASSERT_EQ(r.exitCode, 0) << r.output;
  expectPyTorchReplaysTheSteps("2");
}

}  // namespace
}  // namespace tsn
