#include <gtest/gtest.h>

#include "train/LrSchedule.h"

namespace tsn {
namespace {

TEST(LrSchedule, StepDecayAtConfiguredEpochs) {
  TrainConfig t;
  t.epochs = 45;
  t.lr = 0.01;
  t.lrDecay = 0.1;
  t.lrDecayEpochs = {15, 30};
  const LrSchedule s(t, 100);  // 100 steps per epoch
  EXPECT_DOUBLE_EQ(s.at(0), 0.01);
  EXPECT_DOUBLE_EQ(s.at(1499), 0.01);     // last step of epoch 15 (1-based)
  EXPECT_NEAR(s.at(1500), 0.001, 1e-15);  // first step of epoch 16
  EXPECT_NEAR(s.at(2999), 0.001, 1e-15);
  EXPECT_NEAR(s.at(3000), 0.0001, 1e-15);
  EXPECT_NEAR(s.at(4499), 0.0001, 1e-15);
}

TEST(LrSchedule, LinearWarmupRisesToTheScheduledValue) {
  TrainConfig t;
  t.epochs = 10;
  t.lr = 0.1;
  t.lrDecayEpochs = {5};
  t.warmupEpochs = 0.5;
  const LrSchedule s(t, 20);  // warmup: 10 steps
  EXPECT_NEAR(s.at(0), 0.01, 1e-12);
  EXPECT_NEAR(s.at(4), 0.05, 1e-12);
  EXPECT_NEAR(s.at(9), 0.1, 1e-12);
  EXPECT_NEAR(s.at(10), 0.1, 1e-12);
  for (int i = 1; i < 10; ++i) EXPECT_GT(s.at(i), s.at(i - 1));
  EXPECT_NEAR(s.at(100), 0.01, 1e-12);
}

TEST(LrSchedule, NoDecayEpochsKeepsTheBaseRate) {
  TrainConfig t;
  t.epochs = 3;
  t.lr = 0.5;
  t.lrDecayEpochs = {};
  const LrSchedule s(t, 7);
  for (int i = 0; i < 21; ++i) EXPECT_DOUBLE_EQ(s.at(i), 0.5);
}

}  // namespace
}  // namespace tsn
