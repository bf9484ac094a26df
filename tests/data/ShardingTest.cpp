// Which samples each rank reads in an epoch.
#include <gtest/gtest.h>

#include <set>

#include "data/ClipLoader.h"

namespace tsn {
namespace {

TEST(Sharding, TrainingShardsAreEqualCoverEverythingAndAgreeAcrossRanks) {
  for (int world : {1, 2, 3, 8}) {
    std::multiset<int64_t> all;
    size_t size = 0;
    for (int rank = 0; rank < world; ++rank) {
      const auto mine = shardIndices(23, rank, world, 5, 2, true, true);
      if (rank == 0) size = mine.size();
      EXPECT_EQ(mine.size(), size) << "world " << world;  // same count on every rank
      all.insert(mine.begin(), mine.end());
    }
    EXPECT_EQ(size, static_cast<size_t>((23 + world - 1) / world));
    for (int64_t i = 0; i < 23; ++i) EXPECT_GE(all.count(i), 1u) << "sample " << i;
    EXPECT_EQ(all.size(), size * world);  // padding repeats only what it must
  }
}

TEST(Sharding, EvaluationShardsCoverEachSampleExactlyOnce) {
  std::multiset<int64_t> all;
  for (int rank = 0; rank < 3; ++rank) {
    const auto mine = shardIndices(10, rank, 3, 0, 0, false, false);
    all.insert(mine.begin(), mine.end());
  }
  EXPECT_EQ(all.size(), 10u);
  EXPECT_EQ(std::set<int64_t>(all.begin(), all.end()).size(), 10u);
}

TEST(Sharding, ShuffleDependsOnSeedAndEpochOnly) {
  EXPECT_EQ(shardIndices(100, 1, 4, 7, 3, true, true), shardIndices(100, 1, 4, 7, 3, true, true));
  EXPECT_NE(shardIndices(100, 0, 1, 7, 3, true, true), shardIndices(100, 0, 1, 7, 4, true, true));
  EXPECT_NE(shardIndices(100, 0, 1, 7, 3, true, true), shardIndices(100, 0, 1, 8, 3, true, true));
  const auto unshuffled = shardIndices(5, 0, 1, 7, 3, false, false);
  EXPECT_EQ(unshuffled, (std::vector<int64_t>{0, 1, 2, 3, 4}));
}

}  // namespace
}  // namespace tsn
