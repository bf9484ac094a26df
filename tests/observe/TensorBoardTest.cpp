#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "common/Strings.h"
#include "observe/TensorBoard.h"
#include "support/TestSupport.h"

namespace tsn {
namespace {

TEST(TensorBoard, RecordsAreFramedWithLengthsAndChecksums) {
  testing::TempDir dir("tensorboard_frames");
  std::filesystem::path file;
  {
    EventWriter writer(dir.path() / "tb");
    writer.scalar("train/loss", 7, 0.25, 1.7e9);
    writer.flush();
    file = writer.file();
  }
  EXPECT_THAT(file.filename().string(), ::testing::StartsWith("events.out.tfevents."));
  std::ifstream in(file, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Walk the records: each length, its masked CRC, the data and the data's masked CRC.
  const auto masked = [](const char* p, size_t n) {
    const uint32_t c = crc32c(p, n);
    return ((c >> 15) | (c << 17)) + 0xa282ead8u;
  };
  size_t at = 0, records = 0;
  while (at < bytes.size()) {
    ASSERT_LE(at + 12, bytes.size());
    uint64_t length = 0;
    uint32_t lengthCrc = 0, dataCrc = 0;
    std::memcpy(&length, bytes.data() + at, 8);
    std::memcpy(&lengthCrc, bytes.data() + at + 8, 4);
    EXPECT_EQ(lengthCrc, masked(bytes.data() + at, 8));
    ASSERT_LE(at + 12 + length + 4, bytes.size());
    std::memcpy(&dataCrc, bytes.data() + at + 12 + length, 4);
    EXPECT_EQ(dataCrc, masked(bytes.data() + at + 12, length));
    at += 12 + length + 4;
    ++records;
  }
  EXPECT_EQ(records, 2u);  // the file version, then the scalar
  EXPECT_NE(bytes.find("brain.Event:2"), std::string::npos);
  EXPECT_NE(bytes.find("train/loss"), std::string::npos);
}

}  // namespace
}  // namespace tsn
