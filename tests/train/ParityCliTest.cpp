// Training matches PyTorch step for step: tsn_dist saves its first steps (--save-steps), and
// tests/train/step_parity.py replays them with torchvision's ResNet and torch.optim.SGD and
// compares losses, LRs, parameters, BatchNorm statistics and momentum, with a tolerance derived
// from PyTorch's own float32 error on this machine. Always against the PyTorch this build's
// LibTorch comes from (TSN_REFERENCE_PYTHONPATH), one thread on both sides; a comparison with
// another PyTorch version is printed, never judged. The comparison must also fail when the
// PyTorch side's LR, momentum or weight decay is 1% off. CTest runs these tests a second time
// with oneDNN and ATen limited to AVX2 (a CPU without AVX-512).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <torch/version.h>

#include <fstream>

#include "support/CliTest.h"

namespace tsn {
namespace {

using ::testing::HasSubstr;

class ParityCli : public testing::CliTest {
 protected:
  ParityCli() : CliTest("parity", 4, 8, 30, 10) {}

  void SetUp() override {
    // CTest's AVX2 run (ParityCli.isa_avx2) on a CPU without AVX-512 would repeat the run
    // without a limit, which already used AVX2 or less.
    const char* limit = std::getenv("ONEDNN_MAX_CPU_ISA");
    if (limit != nullptr && std::string(limit) == "AVX2" && !__builtin_cpu_supports("avx512f")) {
      GTEST_SKIP()
          << "this CPU has no AVX-512: the tests without an ISA limit ran at AVX2 or below";
    }
    CliTest::SetUp();
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
    const std::string replay = std::string(TSN_SOURCE_DIR) + "/tests/train/step_parity.py " +
                               (dir_->path() / "steps").string() + " " + latestCheckpoint();
    // One process replays the steps and the three perturbations (PyTorch 2.x takes seconds
    // to import).
    const auto r =
        testing::run(fmt::format("env OMP_NUM_THREADS=1 PYTHONPATH={} /usr/bin/python3 "
                                 "{} --perturbations --expect-torch {}",
                                 TSN_REFERENCE_PYTHONPATH, replay, TORCH_VERSION));
    std::cout << "[ report   ] " << r.output;
    EXPECT_EQ(r.exitCode, 0) << r.output;
    EXPECT_THAT(r.output, HasSubstr("3 steps on " + expectRanks + " rank(s)"));
    for (const char* what : {"lr", "momentum", "weight_decay"}) {
      EXPECT_THAT(r.output, HasSubstr("perturbed: " + std::string(what) + " 1% off")) << r.output;
    }
    EXPECT_THAT(r.output, ::testing::Not(HasSubstr("did not catch"))) << r.output;
    // Where the system's PyTorch is another version (the CUDA build links PyPI's), the
    // comparison with it is only reported: kernels differ between versions.
    if (std::string(TSN_REFERENCE_PYTHONPATH).empty()) return;
    const auto other =
        testing::run("env OMP_NUM_THREADS=1 /usr/bin/python3 " + replay + " --report-only");
    std::cout << "[ report   ] against the system's PyTorch (not judged): " << other.output;
  }

  /// Where oneDNN's instruction set is limited (ONEDNN_MAX_CPU_ISA, as CTest's AVX2 run of
  /// these tests does), both sides must run under the limit: oneDNN names its ISA when verbose.
  void expectIsaLimitOnBothSides() {
    const char* limit = std::getenv("ONEDNN_MAX_CPU_ISA");
    if (limit == nullptr || std::string(limit) != "AVX2") return;
    const auto ours =
        testing::run("env ONEDNN_VERBOSE=1 OMP_NUM_THREADS=1 " + testing::binary("tsn_dist") +
                     " --config " + config("norm_eval = true") + " --debug --max-steps 1" +
                     " --set train.work_dir=" + (dir_->path() / "isa").string());
    EXPECT_THAT(ours.output, HasSubstr("isa:Intel AVX2\n"));
    const auto theirs = testing::run(
        fmt::format("env ONEDNN_VERBOSE=1 PYTHONPATH={} /usr/bin/python3 -c 'import torch; "
                    "torch.nn.Conv2d(3, 8, 3)(torch.randn(2, 3, 16, 16))'",
                    TSN_REFERENCE_PYTHONPATH));
    EXPECT_THAT(theirs.output, HasSubstr("isa:Intel AVX2\n"));
  }
};

TEST_F(ParityCli, OneRankMatchesPyTorchStepForStepWithPartialBn) {
  const auto r =
      testing::run("env OMP_NUM_THREADS=1 " + testing::binary("tsn_dist") + " --config " +
                   config("partial_bn = true") + " --debug --max-steps 3 --save-steps " +
                   (dir_->path() / "steps").string());
  ASSERT_EQ(r.exitCode, 0) << r.output;
  expectPyTorchReplaysTheSteps("1");
  expectIsaLimitOnBothSides();
}

TEST_F(ParityCli, TwoRanksOfBatchBMatchOneStepOfTwiceTheBatchInPyTorch) {
  // BatchNorm in eval mode (norm_eval): per-sample arithmetic, so 2 x 4 clips are one step of 8.
  const auto r = mpirun(
      "-np 2 " + testing::binary("tsn_dist") + " --config " + config("norm_eval = true") +
      " --max-steps 3 --set data.workers=0 --save-steps " + (dir_->path() / "steps").string());
  ASSERT_EQ(r.exitCode, 0) << r.output;
  expectPyTorchReplaysTheSteps("2");
}

}  // namespace
}  // namespace tsn
