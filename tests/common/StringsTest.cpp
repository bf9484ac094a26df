#include <gtest/gtest.h>

#include "common/Strings.h"

namespace tsn {
namespace {

TEST(Strings, EditDistanceCountsInsertionsDeletionsSubstitutions) {
  EXPECT_EQ(editDistance("", ""), 0u);
  EXPECT_EQ(editDistance("lr", "lr"), 0u);
  EXPECT_EQ(editDistance("lrr", "lr"), 1u);
  EXPECT_EQ(editDistance("kitten", "sitting"), 3u);
  EXPECT_EQ(editDistance("", "abc"), 3u);
}

TEST(Strings, ClosestMatchSuggestsNearKeysOnly) {
  const std::vector<std::string> keys = {"lr", "epochs", "batch_size", "weight_decay"};
  EXPECT_EQ(closestMatch("epoch", keys), "epochs");
  EXPECT_EQ(closestMatch("batchsize", keys), "batch_size");
  EXPECT_EQ(closestMatch("wieght_decay", keys), "weight_decay");
  EXPECT_EQ(closestMatch("completely_unrelated_name", keys), "");
}

TEST(Strings, SplitAndTrim) {
  EXPECT_EQ(split("a.b..c", '.'), (std::vector<std::string>{"a", "b", "", "c"}));
  EXPECT_EQ(trim("  x y \t\n"), "x y");
  EXPECT_EQ(trim("   "), "");
}

TEST(Strings, FormatDuration) {
  EXPECT_EQ(formatDuration(42), "0:42");
  EXPECT_EQ(formatDuration(3723), "1:02:03");
  EXPECT_EQ(formatDuration(2 * 86400 + 3 * 3600 + 4 * 60 + 5), "2d 03:04:05");
  EXPECT_EQ(formatDuration(-1), "?");
}

}  // namespace
}  // namespace tsn
