// tsn_eval and tsn_infer on a checkpoint tsn_dist wrote, on 1, 2 and 3 ranks; and the same
// checkpoint opened from Python with torch.load into torchvision's ResNet.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "checkpoint/Checkpoint.h"
#include "support/TestSupport.h"

namespace tsn {
namespace {

using ::testing::HasSubstr;

class EvalCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir("eval_cli");
    const auto data = testing::syntheticDataset(dir_->path() / "data", 3, 5, 20, 10);
    // A broken video in the evaluation list: skipped and reported, never fatal.
    testing::writeFile(data / "broken.mp4", "not a video");
    std::string listed;
    for (const char* list : {"train.list", "val.list"}) {
      std::ifstream in(data / list);
      listed += std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    }
    testing::writeFile(dir_->path() / "eval.list", listed + "broken.mp4 1\n");  // 15 + 1
    // Width 64: torchvision's ResNet-18, so the Python test can load it.
    testing::writeFile(dir_->path() / "run.toml", fmt::format(R"([model]
backbone = "resnet18"
width = 64
num_classes = 3
dropout = 0.0
{0}[train]
epochs = 1
batch_size = 4
lr = 0.01
work_dir = "{1}"
[eval]
batch_size = 3
)",
                                                              testing::syntheticDataSection(data),
                                                              (dir_->path() / "work").string()));
    const auto r = testing::run(testing::binary("tsn_dist") + " --config " + config());
    ASSERT_EQ(r.exitCode, 0) << r.output;
    checkpoint_ = new std::string(CheckpointStore(dir_->path() / "work", 1).list().at(0).string());
  }
  static void TearDownTestSuite() {
    delete dir_;
    delete checkpoint_;
  }
  static std::string config() { return (dir_->path() / "run.toml").string(); }
  static std::string evalList() { return (dir_->path() / "eval.list").string(); }

  static nlohmann::json evaluate(int ranks, const std::string& extra = "") {
    const auto out = dir_->path() / fmt::format("scores_np{}{}.json", ranks, extra.size());
    const std::string eval = testing::binary("tsn_eval") + " --config " + config() +
                             " --checkpoint " + *checkpoint_ + " --list " + evalList() +
                             " --output " + out.string() + " " + extra;
    const auto r =
        testing::run(ranks == 1 ? eval
                                : fmt::format("{} -np {} --oversubscribe --bind-to none "
                                              "--allow-run-as-root -x OMP_NUM_THREADS=1 {}",
                                              TSN_MPIEXEC, ranks, eval));
    EXPECT_EQ(r.exitCode, 0) << r.output;
    EXPECT_THAT(r.output, HasSubstr("15 of 16 listed videos evaluated, 1 skipped"));
    std::ifstream in(out);
    return nlohmann::json::parse(in);
  }

  static testing::TempDir* dir_;
  static std::string* checkpoint_;
};
testing::TempDir* EvalCli::dir_ = nullptr;
std::string* EvalCli::checkpoint_ = nullptr;

TEST_F(EvalCli, ShardedOverTwoAndThreeRanksEqualsOneRank) {
  const auto one = evaluate(1);
  EXPECT_EQ(one["listed"], 16);
  EXPECT_EQ(one["evaluated"], 15);
  ASSERT_EQ(one["skipped"].size(), 1u);
  EXPECT_THAT(one["skipped"][0]["video"].get<std::string>(), HasSubstr("broken.mp4"));
  EXPECT_FALSE(one["skipped"][0]["reason"].get<std::string>().empty());
  std::ifstream confusion(dir_->path() / "scores_np10.json.confusion.csv");
  std::string header;
  std::getline(confusion, header);
  EXPECT_EQ(header, "true/predicted,0,1,2");

  for (const int ranks : {2, 3}) {
    SCOPED_TRACE(ranks);
    const auto many = evaluate(ranks);
    EXPECT_EQ(many["ranks"], ranks);
    EXPECT_EQ(many["evaluated"], 15);  // no padded duplicates
    ASSERT_EQ(many["skipped"].size(), 1u);
    EXPECT_EQ(many["skipped"][0]["video"], one["skipped"][0]["video"]);
    EXPECT_EQ(many["top1"], one["top1"]);
    EXPECT_EQ(many["top5"], one["top5"]);
    EXPECT_EQ(many["mean_class_accuracy"], one["mean_class_accuracy"]);
    ASSERT_EQ(many["videos"].size(), 15u);
    for (size_t i = 0; i < 15; ++i) {
      EXPECT_EQ(many["videos"][i]["video"], one["videos"][i]["video"]);
      for (size_t k = 0; k < 3; ++k) {
        EXPECT_NEAR(many["videos"][i]["scores"][k].get<double>(),
                    one["videos"][i]["scores"][k].get<double>(), 1e-4);
      }
    }
  }
}

TEST_F(EvalCli, TenCropMultiClipEvaluationRuns) {
  const auto j = evaluate(1, "--crops 10 --num-clips 2");
  EXPECT_EQ(j["crops"], 10);
  EXPECT_EQ(j["num_clips"], 2);
  EXPECT_EQ(j["evaluated"], 15);
}

TEST_F(EvalCli, InferWritesTopKClassNamesAndProbabilitiesAsJsonLines) {
  const auto out = dir_->path() / "infer.jsonl";
  const auto r =
      testing::run(testing::binary("tsn_infer") + " --config " + config() + " --checkpoint " +
                   *checkpoint_ + " --list " + evalList() + " --topk 2 --output " + out.string());
  ASSERT_EQ(r.exitCode, 0) << r.output;
  std::ifstream in(out);
  int predicted = 0, errors = 0;
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line);
    ASSERT_TRUE(j.contains("video")) << line;
    if (j.contains("error")) {
      EXPECT_THAT(j["video"].get<std::string>(), HasSubstr("broken.mp4"));
      ++errors;
      continue;
    }
    ASSERT_EQ(j["top"].size(), 2u) << line;
    const double p0 = j["top"][0]["prob"], p1 = j["top"][1]["prob"];
    EXPECT_GE(p0, p1);
    EXPECT_LE(p0 + p1, 1.0 + 1e-6);
    // Names from the data set's classes.txt.
    EXPECT_THAT(j["top"][0]["class"].get<std::string>(), HasSubstr("class_0"));
    ++predicted;
  }
  EXPECT_EQ(predicted, 15);
  EXPECT_EQ(errors, 1);

  const auto bad = testing::run(testing::binary("tsn_infer") + " --config " + config() +
                                " --checkpoint " + evalList() + " --video x.mp4");
  EXPECT_EQ(bad.exitCode, 2) << bad.output;
  EXPECT_THAT(bad.output, HasSubstr("--checkpoint: " + evalList() + ": unreadable checkpoint"));
}

// Python (Debian's python3-torch and python3-torchvision): torch.load our checkpoint, put the
// backbone into torchvision's ResNet-18 and the classifier on top, run the frames tsn_infer
// ran, and get its logits.
TEST_F(EvalCli, PyTorchLoadsTheCheckpointAndReproducesInferLogits) {
  const auto inputs = dir_->path() / "inputs.pt", out = dir_->path() / "logits.jsonl";
  auto r = testing::run(testing::binary("tsn_infer") + " --config " + config() + " --checkpoint " +
                        *checkpoint_ + " --list " + evalList() + " --logits --save-inputs " +
                        inputs.string() + " --output " + out.string());
  ASSERT_EQ(r.exitCode, 0) << r.output;
  r = testing::run("/usr/bin/python3 " + std::string(TSN_SOURCE_DIR) +
                   "/tests/launcher/check_checkpoint.py " + *checkpoint_ + " " + inputs.string() +
                   " " + out.string());
  ASSERT_EQ(r.exitCode, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("15 videos: logits match"));
}

}  // namespace
}  // namespace tsn
