#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "support/TestSupport.h"

namespace tsn {
namespace {

using ::testing::HasSubstr;

class TsnDistCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::make_unique<testing::TempDir>(
        std::string("cli_") + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    data_ = testing::syntheticDataset(dir_->path() / "data", 3, 4, 20, 10);
  }

  /// A valid config for the small data set, with `extra` appended to [train].
  std::string config(const std::string& extraTrain = "", const std::string& valList = "") {
    return fmt::format(R"([model]
backbone = "resnet18"
width = 8
num_classes = 3
[data]
root = "{0}"
train_list = "{0}/train.list"
val_list = "{1}"
short_size = 40
target_size = 32
workers = 1
[train]
epochs = 2
batch_size = 4
lr = 0.01
work_dir = "{2}"
{3}
)",
                       data_.string(), valList.empty() ? (data_ / "val.list").string() : valList,
                       workDir().string(), extraTrain);
  }
  std::filesystem::path workDir() const { return dir_->path() / "work"; }

  testing::CommandResult runWith(const std::string& text, const std::string& args = "") {
    const auto file = dir_->path() / "run.toml";
    testing::writeFile(file, text);
    return testing::run(testing::binary("tsn_dist") + " --config " + file.string() + " " + args);
  }

  std::unique_ptr<testing::TempDir> dir_;
  std::filesystem::path data_;
};

/// Exit code 2, one line, and nothing created: the config was refused before any work.
void expectRefused(const testing::CommandResult& r, const std::filesystem::path& workDir,
                   const std::string& what) {
  EXPECT_EQ(r.exitCode, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr(what));
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  EXPECT_FALSE(std::filesystem::exists(workDir)) << "work started despite a bad config";
}

TEST(TsnDistVersion, SaysWhichLibTorchAndWhetherItSeesAGpu) {
  for (const char* program : {"tsn_dist", "tsn_eval", "tsn_infer"}) {
    const auto r = testing::run(testing::binary(program) + " --version");
    EXPECT_EQ(r.exitCode, 0) << r.output;
    EXPECT_THAT(r.output,
                ::testing::MatchesRegex(std::string(program) +
                                        " [0-9.]+ \\(LibTorch [0-9.]+.*, (CPU build|CUDA "
                                        "build, NCCL [0-9.]+); [0-9]+ GPUs? visible\\)\n"));
  }
}

TEST_F(TsnDistCli, UnknownKeyIsRefusedNamingFileLineAndKey) {
  const auto r = runWith(config("epochz = 3"));
  expectRefused(
      r, workDir(),
      "run.toml:17: train.epochz: unknown key 'epochz' in [train] (did you mean 'epochs'?)");
}

TEST_F(TsnDistCli, WrongTypeIsRefused) {
  const auto r = runWith(config("seed = \"zero\""));
  expectRefused(r, workDir(), "run.toml:17: train.seed: expected an integer, got string \"zero\"");
}

TEST_F(TsnDistCli, MissingListFileIsRefusedNamingThePath) {
  const auto r = runWith(config("", "/no/such/val.list"));
  expectRefused(r, workDir(), "run.toml:8: data.val_list: file not found: /no/such/val.list");
}

TEST_F(TsnDistCli, BadOverrideIsRefused) {
  const auto r = runWith(config(), "--set train.lr=-1");
  expectRefused(r, workDir(), "--set train.lr=-1: train.lr: must be > 0, got -1");
}

TEST_F(TsnDistCli, MalformedListLineIsRefused) {
  const auto list = dir_->path() / "broken.list";
  testing::writeFile(list, "videos/a.mp4 0\nvideos/b.mp4 zero\n");
  const auto r = runWith(config("", list.string()));
  expectRefused(r, workDir(), list.string() + ":2: expected 'path label'");
}

// This machine has no GPU (and the default build no CUDA): the NCCL backend is refused up front.
TEST_F(TsnDistCli, NcclBackendWithoutAGpuIsRefused) {
  const auto r = runWith(config(), "--set dist.backend=nccl");
  expectRefused(r, workDir(), "dist.backend: nccl needs a");
}

TEST_F(TsnDistCli, Fp16WithoutAGpuIsRefused) {
  const auto r = runWith(config(), "--set train.precision=fp16");
  expectRefused(r, workDir(), "train.precision: fp16 needs a GPU");
}

TEST_F(TsnDistCli, UnreadablePretrainedWeightsAreRefused) {
  const auto bogus = dir_->path() / "weights.pt";
  testing::writeFile(bogus, "not weights");
  const auto r = runWith(config(), "--set model.pretrained=" + bogus.string());
  expectRefused(r, workDir(), bogus.string() + ": not a torch.save file");
}

TEST_F(TsnDistCli, TrainsAndWritesConfigLogsAndMetrics) {
  const auto r = runWith(config(), "--set train.log_interval=1");
  ASSERT_EQ(r.exitCode, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("final validation: top1 "));
  EXPECT_THAT(r.output, HasSubstr("[rank 0] [train]"));
  ASSERT_TRUE(std::filesystem::exists(workDir() / "config.toml"));
  ASSERT_TRUE(std::filesystem::exists(workDir() / "logs" / "rank0.log"));
  ASSERT_TRUE(std::filesystem::exists(workDir() / "metrics.jsonl"));
  std::ifstream resolved(workDir() / "config.toml");
  const std::string text((std::istreambuf_iterator<char>(resolved)),
                         std::istreambuf_iterator<char>());
  EXPECT_THAT(text, HasSubstr("log_interval = 1"));       // the override is in the resolved config
  EXPECT_THAT(text, HasSubstr("lr_decay_epochs = [1]"));  // and the resolved defaults
}

}  // namespace
}  // namespace tsn
