// JPEG through TurboJPEG (src/video/Jpeg.h): decode-time scaling, the round trip, damage.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>

#include <thread>

#include "video/AvError.h"
#include "video/Jpeg.h"
#include "video/VideoReader.h"
#include "video/VideoTestSupport.h"

namespace tsn::jpeg {
namespace {

using ::testing::HasSubstr;

TEST(Jpeg, DecodesReducedOnlyWhereTheFrameIsAtLeastTwiceTheTarget) {
  // TurboJPEG reduces by 1/2, 3/8, 1/4 or 1/8 (sizes rounded up): the smallest that covers.
  EXPECT_EQ(decodedSize(340, 256, Target{256, {}}), cv::Size(340, 256));
  EXPECT_EQ(decodedSize(340, 256, Target{200, {}}), cv::Size(340, 256));
  EXPECT_EQ(decodedSize(340, 256, Target{128, {}}), cv::Size(170, 128));
  EXPECT_EQ(decodedSize(340, 256, Target{100, {}}), cv::Size(170, 128));
  EXPECT_EQ(decodedSize(340, 256, Target{96, {}}), cv::Size(128, 96));
  EXPECT_EQ(decodedSize(340, 256, Target{64, {}}), cv::Size(85, 64));
  EXPECT_EQ(decodedSize(340, 256, Target{20, {}}), cv::Size(43, 32));
  EXPECT_EQ(decodedSize(256, 340, Target{64, {}}), cv::Size(64, 85));  // portrait
  // An exact size must be covered in both dimensions.
  EXPECT_EQ(decodedSize(340, 256, Target{0, {170, 128}}), cv::Size(170, 128));
  EXPECT_EQ(decodedSize(340, 256, Target{0, {171, 100}}), cv::Size(340, 256));
  EXPECT_EQ(decodedSize(1280, 720, Target{0, {340, 256}}), cv::Size(480, 270));  // 3/8
  // Short side 0: the frame as stored.
  EXPECT_EQ(decodedSize(1280, 720, Target{}), cv::Size(1280, 720));
}

class JpegRoundTrip : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::make_unique<testing::TempDir>("jpeg");
    const auto video = testing::writeVideo(dir_->path(), testing::Encoding{"mp4", 10, 2}, 12);
    VideoReader reader(video);
    frames_ = reader.decode({0, 5, 11}, 0);  // 160x120
    for (const auto& f : frames_) {
      bytes_.emplace_back();
      Encoder::forThisThread().encode(f, 90, bytes_.back());
    }
  }
  cv::Mat decode(Decoder& d, size_t k, const Target& t = {}) {
    return d.decode(bytes_[k].data(), bytes_[k].size(), t, [] { return std::string("frame"); });
  }
  std::unique_ptr<testing::TempDir> dir_;
  std::vector<cv::Mat> frames_;
  std::vector<std::vector<uint8_t>> bytes_;
};

TEST_F(JpegRoundTrip, KeepsThePsnrGoalAtTheDefaultQualityWithEitherIdct) {
  Decoder fast(true), accurate(false);
  for (size_t k = 0; k < frames_.size(); ++k) {
    const cv::Mat f = decode(fast, k), a = decode(accurate, k);
    ASSERT_EQ(f.size(), frames_[k].size());
    ASSERT_EQ(f.type(), CV_8UC3);
    EXPECT_GE(cv::PSNR(f, frames_[k]), 36.0) << k;
    EXPECT_GE(cv::PSNR(a, frames_[k]), 36.0) << k;
    // The fast IDCT's rounding is a fraction of the quantisation error of quality 90.
    EXPECT_GT(cv::PSNR(f, a), cv::PSNR(a, frames_[k])) << k;
    // The loader's decoder is the fast one.
    EXPECT_EQ(cv::norm(decode(Decoder::forThisThread(), k), f, cv::NORM_INF), 0) << k;
  }
}

TEST_F(JpegRoundTrip, AReducedDecodeIsTheFrameAtThatSize) {
  Decoder& d = Decoder::forThisThread();
  for (size_t k = 0; k < frames_.size(); ++k) {
    const cv::Mat half = decode(d, k, Target{60, {}});
    ASSERT_EQ(half.size(), cv::Size(80, 60));
    cv::Mat expected;
    cv::resize(frames_[k], expected, {80, 60}, 0, 0, cv::INTER_AREA);
    // The DCT-domain reduction averages like INTER_AREA; JPEG loss and filter shape stay below
    // what a misplaced or mis-scaled image would give (a shift by one pixel is ~20 dB here).
    EXPECT_GE(cv::PSNR(half, expected), 30.0) << k;
  }
}

TEST_F(JpegRoundTrip, EncodesTheSameBytesEveryTime) {
  std::vector<uint8_t> again, lower;
  Encoder other;
  other.encode(frames_[0], 90, again);
  EXPECT_EQ(again, bytes_[0]);
  other.encode(frames_[0], 75, lower);
  EXPECT_LT(lower.size(), bytes_[0].size());
  EXPECT_THROW(other.encode(frames_[0], 0, lower), Error);
}

TEST_F(JpegRoundTrip, ADamagedImageIsRefusedNamingTheFrame) {
  Decoder& d = Decoder::forThisThread();
  const auto where = [] { return std::string("shard-00000.tar: video v0 frame 3"); };
  std::vector<uint8_t> truncated(bytes_[0].begin(), bytes_[0].begin() + bytes_[0].size() / 2);
  try {
    d.decode(truncated.data(), truncated.size(), {}, where);
    FAIL() << "a truncated JPEG decoded";
  } catch (const VideoError& e) {
    EXPECT_EQ(e.failure(), VideoFailure::InvalidData);
    EXPECT_THAT(e.what(), HasSubstr("shard-00000.tar: video v0 frame 3: damaged JPEG image"));
  }
  const std::vector<uint8_t> text = {'n', 'o', 't', ' ', 'j', 'p', 'e', 'g'};
  try {
    d.decode(text.data(), text.size(), {}, where);
    FAIL() << "text decoded";
  } catch (const VideoError& e) {
    EXPECT_THAT(e.what(), HasSubstr("frame 3: not a JPEG image"));
  }
  // The handle is still good afterwards.
  EXPECT_GE(cv::PSNR(decode(d, 1), frames_[1]), 36.0);
}

TEST(Jpeg, EachThreadDecodesWithItsOwnHandle) {
  const Decoder* mine = &Decoder::forThisThread();
  const Decoder* other = nullptr;
  std::thread([&] { other = &Decoder::forThisThread(); }).join();
  EXPECT_NE(mine, other);
  EXPECT_EQ(mine, &Decoder::forThisThread());
}

}  // namespace
}  // namespace tsn::jpeg
