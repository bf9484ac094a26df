#include <gtest/gtest.h>

#include <fstream>

#include "config/Config.h"
#include "data/ClipLoader.h"
#include "distributed/Communicator.h"
#include "model/Tsn.h"
#include "support/TestSupport.h"
#include "train/ShortRun.h"
#include "train/Trainer.h"

namespace tsn {
namespace {

/// The same short run in fp32 and in bf16 autocast with channels-last weights.
class Training : public ::testing::TestWithParam<std::string> {};

TEST_P(Training, ShortRunOnSyntheticVideosLearnsFarAboveChance) {
  testing::TempDir dir("training_run_" + GetParam());
  const Config c = testing::shortRun(
      dir, "work",
      GetParam() == "bf16_channels_last"
          ? std::vector<std::string>{"train.precision=bf16", "train.channels_last=true"}
          : std::vector<std::string>{});
  torch::manual_seed(0);
  const TrainResult result = testing::train(c, Tsn(c.model), torch::kCPU);

  EXPECT_EQ(result.steps, 12 * 6);  // 48 training videos, batch 8
  EXPECT_EQ(result.lastValidation.clips, 16);
  // Chance is 0.25.
  EXPECT_GE(result.lastValidation.top1, 0.75);

  // The metric log holds train and val records with the fields users plot.
  std::ifstream in(dir.path() / "work" / "metrics.jsonl");
  std::string line;
  int trainRecords = 0, valRecords = 0;
  double firstLoss = -1, lastLoss = -1;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line);
    ASSERT_TRUE(j.contains("mode") && j.contains("time")) << line;
    if (j["mode"] == "train") {
      for (const char* key :
           {"epoch", "iter", "lr", "loss", "top1", "top5", "clips_per_s", "data_wait_s"}) {
        EXPECT_TRUE(j.contains(key)) << key << " missing in " << line;
      }
      // The host waits for the device once per window (of 3 steps), not in the steps: what a
      // GPU run waits, counted here (observe/DeviceMemory.h's hostWaits). Nothing is copied to
      // the device on the CPU.
      EXPECT_DOUBLE_EQ(j["host_waits_per_step"].get<double>(), 1.0 / 3) << line;
      EXPECT_EQ(j["h2d_bytes_per_step"].get<double>(), 0.0);
      if (firstLoss < 0) firstLoss = j["loss"].get<double>();
      lastLoss = j["loss"].get<double>();
      ++trainRecords;
    } else if (j["mode"] == "val") {
      EXPECT_TRUE(j.contains("top1") && j.contains("top5"));
      ++valRecords;
    }
  }
  EXPECT_EQ(trainRecords, 12 * 2);
  EXPECT_EQ(valRecords, 3);
  EXPECT_LT(lastLoss, firstLoss);
}

INSTANTIATE_TEST_SUITE_P(Precisions, Training, ::testing::Values("fp32", "bf16_channels_last"));

// In process: a trainer that restores a checkpoint continues exactly (CudaTrainingTest runs the
// same on a GPU; DistributedCli the same through tsn_dist on 2 ranks).
TEST(Training, RestoredTrainerContinuesTheUninterruptedRunBitwise) {
  testing::TempDir dir("training_resume");
  testing::expectResumeEqualsUninterrupted(dir, torch::kCPU);
}

}  // namespace
}  // namespace tsn
