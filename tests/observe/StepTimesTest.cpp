#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "observe/StepTimes.h"

namespace tsn {
namespace {

using ::testing::HasSubstr;

PhaseTimes times(double data, double compute, double reduce, double opt, double pause = 0) {
  PhaseTimes t;
  t[Phase::DataWait] = data;
  t[Phase::ForwardBackward] = compute;
  t[Phase::ReduceWait] = reduce;
  t[Phase::Optimizer] = opt;
  t[Phase::Pause] = pause;
  return t;
}

TEST(StepTimes, TheRankOthersWaitForIsNamedWithTheRightCause) {
  // 10 steps. Rank 2 waits 3 s for data; ranks 0 and 1 wait for it in the all-reduce.
  WindowTimes w;
  w.steps = 10;
  w.perRank = {times(0.5, 2.0, 3.1, 0.2), times(0.6, 2.1, 2.9, 0.2), times(3.5, 2.0, 0.1, 0.2)};
  w.wallS = {5.9, 5.9, 5.9};
  EXPECT_EQ(w.slowestRank(), 2);
  const auto [phase, excess] = w.slowestCause();
  EXPECT_EQ(phase, Phase::DataWait);
  EXPECT_NEAR(excess, (3.5 - 0.55) / 10, 1e-12);
  const PhaseTimes mean = w.meanPerStep();
  EXPECT_NEAR(mean[Phase::DataWait], (0.5 + 0.6 + 3.5) / 30, 1e-12);
  EXPECT_NEAR(mean[Phase::ReduceWait], (3.1 + 2.9 + 0.1) / 30, 1e-12);
  EXPECT_THAT(w.summary(), HasSubstr("(mean of 3 ranks); slowest rank 2: data +0.295 s/step"));

  // A rank slow to compute (a slower GPU, say) is named with forward + backward.
  w.perRank = {times(0.1, 2.0, 1.5, 0.2), times(0.1, 3.5, 0.0, 0.2), times(0.1, 2.1, 1.4, 0.2)};
  w.wallS = {3.8, 3.8, 3.8};
  EXPECT_EQ(w.slowestRank(), 1);
  EXPECT_EQ(w.slowestCause().first, Phase::ForwardBackward);

  nlohmann::json record;
  w.addTo(record);
  EXPECT_EQ(record["slowest_rank"], 1);
  EXPECT_EQ(record["slowest_cause"], "forward_backward_s");
  EXPECT_EQ(record["window_steps"], 10);
  EXPECT_EQ(record["step_time_per_rank"]["forward_backward_s"].size(), 3u);
  EXPECT_NEAR(record["step_time_per_rank"]["forward_backward_s"][1].get<double>(), 0.35, 1e-12);
}

TEST(StepTimes, AWaitEveryRankSharesIsTheNetworks) {
  // 10 steps of 0.5 s: both ranks compute alike and wait >= 0.2 s/step for the all-reduce.
  WindowTimes w;
  w.steps = 10;
  w.perRank = {times(0.1, 2.5, 2.2, 0.2), times(0.1, 2.6, 2.0, 0.2)};
  w.wallS = {5.0, 5.0};
  EXPECT_NEAR(w.networkWaitPerStep(), 0.2, 1e-12);
  EXPECT_TRUE(w.networkBound());
  EXPECT_THAT(w.summary(), HasSubstr("; network: every rank waits >= 0.200 s/step (40%)"));
  nlohmann::json record;
  w.addTo(record);
  EXPECT_EQ(record["network_bound"], true);
  EXPECT_NEAR(record["network_wait_s"].get<double>(), 0.2, 1e-12);

  // A straggler: the others wait for it, but it hardly waits itself. Not the network.
  w.perRank = {times(0.1, 2.5, 2.2, 0.2), times(2.2, 2.6, 0.05, 0.2)};
  EXPECT_FALSE(w.networkBound());
  EXPECT_THAT(w.summary(), ::testing::Not(HasSubstr("network")));
}

TEST(StepTimes, OneRankHasNoStraggler) {
  WindowTimes w;
  w.steps = 4;
  w.perRank = {times(1, 2, 0, 0.5)};
  w.wallS = {3.6};
  EXPECT_EQ(w.slowestRank(), -1);
  nlohmann::json record;
  w.addTo(record);
  EXPECT_FALSE(record.contains("slowest_rank"));
  EXPECT_THAT(w.summary(), ::testing::Not(HasSubstr("slowest")));
  EXPECT_NEAR(record["step_time"]["optimizer_s"].get<double>(), 0.125, 1e-12);
}

TEST(StepTimes, GatheringOnOneRankKeepsItsFigures) {
  LocalCommunicator comm;
  const WindowTimes w = gatherWindowTimes(comm, times(1, 2, 3, 4, 5), 16, 8);
  ASSERT_EQ(w.perRank.size(), 1u);
  EXPECT_EQ(w.perRank[0][Phase::Pause], 5);
  EXPECT_EQ(w.wallS[0], 16);
  EXPECT_EQ(w.steps, 8);
}

TEST(Eta, FollowsTheRate) {
  Eta eta;
  EXPECT_FALSE(eta.known());
  eta.add(10, 5.0);  // 0.5 s per step
  EXPECT_DOUBLE_EQ(eta.secondsFor(100), 50.0);
  eta.add(10, 15.0);  // slower now: the estimate moves towards 1.5 s per step
  EXPECT_GT(eta.secondsFor(100), 50.0);
  EXPECT_LT(eta.secondsFor(100), 150.0);
}

}  // namespace
}  // namespace tsn
