#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/Error.h"
#include "data/FileList.h"
#include "support/TestSupport.h"

namespace tsn {
namespace {

using ::testing::HasSubstr;

TEST(FileList, ReadsVideoListsWithCommentsAndBlankLines) {
  testing::TempDir dir("filelist_ok");
  const auto list = dir.path() / "train.list";
  testing::writeFile(list, "# Kinetics style\nabseiling/a.mp4 0\n\n  b/c.mp4 3  # trailing\n");
  const auto samples = readFileList(list.string(), DataFormat::Video, "/data", 4);
  ASSERT_EQ(samples.size(), 2u);
  EXPECT_EQ(samples[0].path, "/data/abseiling/a.mp4");
  EXPECT_EQ(samples[0].label, 0);
  EXPECT_EQ(samples[1].path, "/data/b/c.mp4");
  EXPECT_EQ(samples[1].label, 3);
}

TEST(FileList, ReadsRawframeLists) {
  testing::TempDir dir("filelist_raw");
  const auto list = dir.path() / "r.list";
  testing::writeFile(list, "videos/x 120 2\n");
  const auto samples = readFileList(list.string(), DataFormat::Rawframes, "root", 3);
  ASSERT_EQ(samples.size(), 1u);
  EXPECT_EQ(samples[0].numFrames, 120);
  EXPECT_EQ(samples[0].label, 2);
}

TEST(FileList, BadLinesNameFileAndLine) {
  testing::TempDir dir("filelist_bad");
  const auto list = dir.path() / "bad.list";
  const auto expectError = [&](const std::string& text, const std::string& what) {
    testing::writeFile(list, text);
    EXPECT_THAT([&] { readFileList(list.string(), DataFormat::Video, "r", 5); },
                ::testing::ThrowsMessage<ConfigError>(HasSubstr(what)))
        << text;
  };
  expectError("a.mp4 1\nb.mp4\n", list.string() + ":2: expected 'path label'");
  expectError("a.mp4 1 2\n", ":1: expected 'path label'");
  expectError("a.mp4 x\n", ":1: expected 'path label'");
  expectError("a.mp4 5\n", ":1: label 5 outside [0, model.num_classes=5)");
  expectError("a.mp4 -1\n", "label -1 outside");
  expectError("../../etc/passwd 1\n", ":1: path escapes the data root");
  expectError("a/../../b.mp4 1\n", "path escapes the data root");
  expectError("/abs/b.mp4 1\n", "path escapes the data root");
  expectError("# only comments\n\n", "file list has no entries");
  EXPECT_THAT([&] { readFileList("/no/such.list", DataFormat::Video, "r", 5); },
              ::testing::ThrowsMessage<ConfigError>(HasSubstr("/no/such.list: cannot open")));
}

TEST(FileList, HashChangesWithContent) {
  std::vector<VideoSample> a = {{"x.mp4", 1, -1}, {"y.mp4", 2, -1}};
  auto b = a;
  EXPECT_EQ(fileListHash(a), fileListHash(b));
  b[1].label = 3;
  EXPECT_NE(fileListHash(a), fileListHash(b));
}

}  // namespace
}  // namespace tsn
