#include <gtest/gtest.h>

#include <random>
#include <vector>

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

TEST(Crc32c, IsTheCastagnoliChecksumAndContinues) {
  // The check value of CRC-32C (RFC 3720, iSCSI) and a split computation.
  const std::string text = "123456789";
  EXPECT_EQ(crc32c(text.data(), text.size()), 0xE3069283u);
  EXPECT_EQ(crc32c(text.data() + 4, 5, crc32c(text.data(), 4)), 0xE3069283u);
  EXPECT_EQ(crc32c(nullptr, 0), 0u);
  const std::string zeros(32, '\0');  // RFC 3720 B.4
  EXPECT_EQ(crc32c(zeros.data(), zeros.size()), 0x8a9136aau);
  EXPECT_EQ(crc32cPortable(text.data(), text.size()), 0xE3069283u);
  EXPECT_EQ(crc32cPortable(zeros.data(), zeros.size()), 0x8a9136aau);
}

TEST(Crc32c, TheInstructionAndTheTableAgreeAtEveryLengthAndAlignment) {
  std::mt19937 rng(7);
  std::vector<uint8_t> bytes(4096 + 16);
  for (auto& b : bytes) b = static_cast<uint8_t>(rng());
  for (size_t offset = 0; offset < 9; ++offset) {
    for (const size_t size : {0, 1, 7, 8, 9, 15, 16, 17, 63, 1000, 4096}) {
      EXPECT_EQ(crc32c(bytes.data() + offset, size, 0x1234u),
                crc32cPortable(bytes.data() + offset, size, 0x1234u))
          << "offset " << offset << " size " << size;
    }
  }
}

}  // namespace
}  // namespace tsn
