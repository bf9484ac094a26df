#include <gtest/gtest.h>
#include <torch/torch.h>

#include "checkpoint/Resume.h"
#include "data/ClipLoader.h"
#include "distributed/Communicator.h"
#include "support/TestSupport.h"
#include "train/RunSetup.h"
#include "train/ShortRun.h"
#include "train/Trainer.h"

namespace tsn {
namespace {

/// The dropout mask the CPU generator draws next (p = 0.5 over 256 values).
torch::Tensor nextMask() {
  torch::nn::Dropout dropout(0.5);
  dropout->train();
  return dropout(torch::ones({256})).ne(0);
}

torch::Tensor cpuState() {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}

TEST(RankStreams, EachRankDrawsItsOwnMasksAndTheSameOnesAgain) {
  std::vector<torch::Tensor> masks;
  for (int rank = 0; rank < 4; ++rank) {
    seedRankStreams(7, rank, 0);
    masks.push_back(nextMask());
  }
  for (size_t a = 0; a < masks.size(); ++a) {
    for (size_t b = a + 1; b < masks.size(); ++b) {
      EXPECT_FALSE(torch::equal(masks[a], masks[b])) << "ranks " << a << " and " << b;
    }
  }
  seedRankStreams(7, 2, 0);
  EXPECT_TRUE(torch::equal(nextMask(), masks[2]));
  seedRankStreams(7, 2, 100);  // another starting step: another stream
  EXPECT_FALSE(torch::equal(nextMask(), masks[2]));
  seedRankStreams(8, 2, 0);  // another run seed
  EXPECT_FALSE(torch::equal(nextMask(), masks[2]));
}

// A fresh run and a run resumed on another number of ranks use the one scheme: after the model
// is built, and after such a restore, the generator is where seedRankStreams puts it.
TEST(RankStreams, FreshAndResumedRunsSeedTheSameWay) {
  testing::TempDir dir("seeding");
  Config c =
      testing::shortRun(dir, "work", {"model.dropout=0.5", "train.max_steps=2", "train.seed=11"});
  LocalCommunicator comm;
  auto trainLoader = makeClipLoader(c, c.data.trainList, true);
  auto valLoader = makeClipLoader(c, c.data.valList, false);
  RunStart start;
  torch::manual_seed(999);  // whatever came before
  Tsn model = buildModel(c, start, comm, *trainLoader, *valLoader, torch::kCPU);
  const auto afterBuild = cpuState();
  seedRankStreams(11, 0, 0);
  EXPECT_TRUE(torch::equal(afterBuild, cpuState())) << "a fresh run: rank 0's stream, step 0";

  const TrainResult stopped = testing::train(c, model, torch::kCPU);
  ASSERT_EQ(stopped.steps, 2);
  Checkpoint ckpt = readCheckpoint(stopped.lastCheckpoint);
  // As if 2 ranks had written it: resumed on 1, rank 0 takes the stream of the step it resumes.
  ckpt.worldSize = 2;
  ckpt.rngCpu = torch::cat({ckpt.rngCpu, ckpt.rngCpu});
  Config rest = c;
  rest.train.maxSteps = 0;
  Trainer trainer(rest, model, *trainLoader, *valLoader, comm, torch::kCPU);
  torch::manual_seed(999);
  trainer.restore(ckpt, "two_ranks.pt");
  const auto afterRestore = cpuState();
  seedRankStreams(11, 0, ckpt.step);
  EXPECT_TRUE(torch::equal(afterRestore, cpuState())) << "resumed on another number of ranks";
}

}  // namespace
}  // namespace tsn
