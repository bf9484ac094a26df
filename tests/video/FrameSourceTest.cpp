// The frame sources other than VideoReader (whose own tests are VideoReaderTest.cpp): frames
// stored as images, and the shared resizing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <opencv2/imgcodecs.hpp>

#include "common/Error.h"
#include "support/TestSupport.h"
#include "video/AvError.h"
#include "video/RawframesReader.h"

namespace tsn {
namespace {

using ::testing::HasSubstr;

TEST(FrameSource, ResizeShortSideKeepsAspect) {
  const cv::Mat r = resizeShortSide(cv::Mat(100, 200, CV_8UC3, cv::Scalar(1, 2, 3)), 50);
  EXPECT_EQ(r.cols, 100);
  EXPECT_EQ(r.rows, 50);
  EXPECT_EQ(scaledSize(120, 160, 60), cv::Size(60, 80));
  EXPECT_EQ(scaledSize(120, 160, 0), cv::Size(120, 160));
}

TEST(RawframesReader, ReadsImagesByFrameIndexAsRgb) {
  testing::TempDir dir("rawframes_reader");
  // Frame n is a flat image of blue n * 40 (BGR on disk), img_00001.jpg holding frame 0.
  for (int n = 0; n < 4; ++n) {
    cv::imwrite((dir.path() / fmt::format("img_{:05d}.jpg", n + 1)).string(),
                cv::Mat(30, 40, CV_8UC3, cv::Scalar(n * 40, 10, 200)),
                {cv::IMWRITE_JPEG_QUALITY, 100});
  }
  RawframesReader reader(dir.str(), 4);
  EXPECT_EQ(reader.numFrames(), 4);
  const auto frames = reader.decode({3, 0, 3}, 15);
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(frames[0].size(), cv::Size(20, 15));
  const cv::Vec3b rgb = frames[0].at<cv::Vec3b>(7, 10);
  EXPECT_NEAR(rgb[2], 120, 2);  // blue, last in RGB
  EXPECT_NEAR(rgb[0], 200, 2);
  EXPECT_NEAR(frames[1].at<cv::Vec3b>(7, 10)[2], 0, 2);
  EXPECT_EQ(reader.decode({1}, cv::Size(8, 8))[0].size(), cv::Size(8, 8));

  EXPECT_THAT([&] { reader.decode({4}, 0); },
              ::testing::ThrowsMessage<Error>(HasSubstr("img_00005.jpg: No such file")));
  ASSERT_EQ(::mkfifo((dir.path() / "img_00006.jpg").c_str(), 0600), 0);
  try {
    reader.decode({5}, 0);
    ADD_FAILURE() << "a named pipe was read as a frame image";
  } catch (const std::exception& e) {
    EXPECT_EQ(failureReason(e), "not a regular file");
  }
  EXPECT_THAT([&] { RawframesReader r((dir.path() / "img_00001.jpg").string(), 1); },
              ::testing::ThrowsMessage<Error>(HasSubstr("not a directory of frame images")));
}

}  // namespace
}  // namespace tsn
