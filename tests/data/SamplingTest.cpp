#include <gtest/gtest.h>

#include <set>

#include "data/Sampling.h"

namespace tsn {
namespace {

TEST(Sampling, TrainPicksOneFramePerEqualSegment) {
  std::mt19937_64 rng(1);
  for (int trial = 0; trial < 200; ++trial) {
    const auto f = sampleTrainFrames(90, 3, 1, rng);
    ASSERT_EQ(f.size(), 3u);
    EXPECT_GE(f[0], 0);
    EXPECT_LT(f[0], 30);
    EXPECT_GE(f[1], 30);
    EXPECT_LT(f[1], 60);
    EXPECT_GE(f[2], 60);
    EXPECT_LT(f[2], 90);
  }
}

TEST(Sampling, TrainCoversEveryPositionOfASegment) {
  std::mt19937_64 rng(2);
  std::set<int64_t> seen;
  for (int trial = 0; trial < 2000; ++trial) seen.insert(sampleTrainFrames(30, 3, 1, rng)[1]);
  EXPECT_EQ(seen.size(), 10u);  // 10..19 all drawn
  EXPECT_EQ(*seen.begin(), 10);
  EXPECT_EQ(*seen.rbegin(), 19);
}

TEST(Sampling, SeglenTakesConsecutiveFrames) {
  std::mt19937_64 rng(3);
  const auto f = sampleTrainFrames(100, 4, 5, rng);
  ASSERT_EQ(f.size(), 20u);
  for (int s = 0; s < 4; ++s) {
    for (int j = 1; j < 5; ++j) EXPECT_EQ(f[s * 5 + j], f[s * 5] + j);
    EXPECT_LE(f[s * 5 + 4], 99);
  }
}

TEST(Sampling, SameSeedSameFrames) {
  std::mt19937_64 a(42), b(42);
  EXPECT_EQ(sampleTrainFrames(300, 7, 1, a), sampleTrainFrames(300, 7, 1, b));
}

TEST(Sampling, EvalTakesSegmentCentres) {
  EXPECT_EQ(sampleEvalFrames(90, 3, 1), (std::vector<int64_t>{15, 45, 75}));
  EXPECT_EQ(sampleEvalFrames(10, 2, 1), (std::vector<int64_t>{2, 7}));
}

TEST(Sampling, EvalClipsShiftEvenlyInsideSegments) {
  // Two clips of 3 segments over 60 frames: offsets 0 and 10 inside 20-frame segments.
  EXPECT_EQ(sampleEvalFrames(60, 3, 1, 0, 2), (std::vector<int64_t>{0, 20, 40}));
  EXPECT_EQ(sampleEvalFrames(60, 3, 1, 1, 2), (std::vector<int64_t>{10, 30, 50}));
}

TEST(Sampling, ShortVideosRepeatFramesInsideTheVideo) {
  std::mt19937_64 rng(4);
  for (int64_t n : {1, 2, 3, 5}) {
    for (const auto f : sampleTrainFrames(n, 7, 2, rng)) {
      EXPECT_GE(f, 0);
      EXPECT_LT(f, n);
    }
    for (const auto f : sampleEvalFrames(n, 7, 2)) {
      EXPECT_GE(f, 0);
      EXPECT_LT(f, n);
    }
  }
  EXPECT_EQ(sampleEvalFrames(1, 3, 1), (std::vector<int64_t>{0, 0, 0}));
}

TEST(Sampling, FewFramesPerSegmentStillGivesSortedDistinctFrames) {
  std::mt19937_64 rng(5);
  for (int trial = 0; trial < 100; ++trial) {
    const auto f = sampleTrainFrames(5, 4, 1, rng);  // 5 positions, 4 segments
    EXPECT_TRUE(std::is_sorted(f.begin(), f.end()));
    EXPECT_EQ(std::set<int64_t>(f.begin(), f.end()).size(), 4u);
  }
}

}  // namespace
}  // namespace tsn

namespace tsn {
namespace {

TEST(Sampling, LoopWrapsPastTheEndInsteadOfRepeatingTheLastFrame) {
  // 4 frames, 2 segments of 3 consecutive frames: starts at 0 in both modes (MMAction2).
  EXPECT_EQ(sampleEvalFrames(4, 2, 3, 0, 1, ShortVideoMode::RepeatLast),
            (std::vector<int64_t>{0, 1, 2, 1, 2, 3}));
  std::mt19937_64 rng(1);
  EXPECT_EQ(sampleTrainFrames(2, 2, 3, rng, ShortVideoMode::Loop),
            (std::vector<int64_t>{0, 1, 0, 0, 1, 0}));
  EXPECT_EQ(sampleTrainFrames(2, 2, 3, rng, ShortVideoMode::RepeatLast),
            (std::vector<int64_t>{0, 1, 1, 0, 1, 1}));
}

}  // namespace
}  // namespace tsn
