#include <gtest/gtest.h>
#include <torch/torch.h>

#include <set>

#include "common/Error.h"
#include "data/Transforms.h"

namespace tsn {
namespace {

/// A frame whose pixel (x, y) is (x, y, 7).
cv::Mat coordinateFrame(int width, int height) {
  cv::Mat m(height, width, CV_8UC3);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) m.at<cv::Vec3b>(y, x) = cv::Vec3b(x, y, 7);
  }
  return m;
}

TEST(Transforms, CentreCropIsCentred) {
  const CropBox b = centerCrop({100, 60}, 50);
  EXPECT_EQ(b.x, 25);
  EXPECT_EQ(b.y, 5);
  EXPECT_EQ(b.width, 50);
  EXPECT_EQ(b.height, 50);
}

TEST(Transforms, RandomCropStaysInsideAndVaries) {
  std::mt19937_64 rng(1);
  std::set<int> xs;
  for (int i = 0; i < 200; ++i) {
    const CropBox b = randomCrop({100, 60}, 50, rng);
    EXPECT_GE(b.x, 0);
    EXPECT_LE(b.x + b.width, 100);
    EXPECT_GE(b.y, 0);
    EXPECT_LE(b.y + b.height, 60);
    xs.insert(b.x);
  }
  EXPECT_GT(xs.size(), 20u);
}

TEST(Transforms, MultiScaleCropUsesTheMmaction2Scales) {
  std::mt19937_64 rng(2);
  std::set<int> widths;
  for (int i = 0; i < 500; ++i) {
    const CropBox b = multiScaleCrop({340, 256}, rng);
    widths.insert(b.width);
    EXPECT_LE(b.x + b.width, 340);
    EXPECT_LE(b.y + b.height, 256);
    // Width and height at most one scale step apart.
    EXPECT_LE(std::max(b.width, b.height) * 0.74, std::min(b.width, b.height) + 1);
  }
  EXPECT_EQ(widths, (std::set<int>{256, 224, 192, 168}));  // 256 x {1, .875, .75, .66}
}

TEST(Transforms, TensorLayoutIsFramesChannelsRowsColumns) {
  const std::vector<cv::Mat> frames = {coordinateFrame(40, 30), coordinateFrame(40, 30)};
  const auto t = clipToTensor(frames, CropBox{10, 5, 8, 8}, false, 8, {0, 0, 0}, {1, 1, 1});
  ASSERT_EQ(t.sizes(), (std::vector<int64_t>{2, 3, 8, 8}));
  EXPECT_EQ(t.scalar_type(), torch::kFloat32);
  // Channel 0 holds x, channel 1 y, channel 2 the constant, scaled to [0, 1].
  EXPECT_FLOAT_EQ(t[1][0][2][3].item<float>(), 13 / 255.0f);
  EXPECT_FLOAT_EQ(t[1][1][2][3].item<float>(), 7 / 255.0f);
  EXPECT_FLOAT_EQ(t[0][2][0][0].item<float>(), 7 / 255.0f);
}

TEST(Transforms, FlipMirrorsColumns) {
  const std::vector<cv::Mat> frames = {coordinateFrame(40, 30)};
  const auto t = clipToTensor(frames, CropBox{0, 0, 10, 10}, true, 10, {0, 0, 0}, {1, 1, 1});
  EXPECT_FLOAT_EQ(t[0][0][0][0].item<float>(), 9 / 255.0f);
  EXPECT_FLOAT_EQ(t[0][0][0][9].item<float>(), 0.0f);
}

TEST(Transforms, NormalisesWithMeanAndStd) {
  cv::Mat grey(4, 4, CV_8UC3, cv::Scalar(51, 102, 204));
  const auto t =
      clipToTensor({grey}, CropBox{0, 0, 4, 4}, false, 4, {0.1, 0.2, 0.3}, {0.5, 0.25, 2.0});
  EXPECT_NEAR(t[0][0][1][1].item<float>(), (0.2 - 0.1) / 0.5, 1e-6);
  EXPECT_NEAR(t[0][1][1][1].item<float>(), (0.4 - 0.2) / 0.25, 1e-6);
  EXPECT_NEAR(t[0][2][1][1].item<float>(), (0.8 - 0.3) / 2.0, 1e-6);
}

// One multiply-add per value against (x / 255 - mean) / std in double: a and b rounded to float
// (relative 2^-24 each), the product and the sum rounded (2^-24 of each), on values of at most
// 255 / (255 * 0.225) = 4.5 and 0.485 / 0.229 = 2.2: under 4 * 2^-24 * (4.5 + 2.2) = 1.6e-6.
TEST(Transforms, EveryValueIsTheNormalisedPixelOfTheCroppedFlippedFrame) {
  const std::vector<double> mean = {0.485, 0.456, 0.406}, std = {0.229, 0.224, 0.225};
  cv::Mat frame(40, 50, CV_8UC3);
  cv::randu(frame, 0, 256);
  const CropBox box{7, 3, 16, 16};
  const auto t = clipToTensor({frame, frame}, box, true, 16, mean, std);
  ASSERT_EQ(t.sizes(), (std::vector<int64_t>{2, 3, 16, 16}));
  const auto a = t.accessor<float, 4>();
  double worst = 0;
  for (int c = 0; c < 3; ++c) {
    for (int y = 0; y < 16; ++y) {
      for (int x = 0; x < 16; ++x) {
        const auto pixel = frame.at<cv::Vec3b>(box.y + y, box.x + 15 - x)[c];
        const double want = (pixel / 255.0 - mean[c]) / std[c];
        worst = std::max({worst, std::abs(a[0][c][y][x] - want), std::abs(a[1][c][y][x] - want)});
      }
    }
  }
  EXPECT_LT(worst, 1.6e-6);
}

// writeClip fills a row of a batch exactly as clipToTensor fills a tensor of its own, through
// the resize and the flip, and touches nothing else.
TEST(Transforms, WritesIntoARowOfABatchAsIntoATensorOfItsOwn) {
  const std::vector<cv::Mat> frames = {coordinateFrame(40, 30), coordinateFrame(40, 30)};
  const std::vector<double> mean = {0.5, 0.4, 0.3}, std = {0.2, 0.3, 0.4};
  for (const CropBox box : {CropBox{3, 2, 12, 12}, CropBox{1, 4, 20, 17}}) {
    for (const bool flip : {false, true}) {
      auto batch = torch::full({3, 2, 3, 12, 12}, 42.0f);
      writeClip(frames, box, flip, 12, mean, std, batch[1]);
      EXPECT_TRUE(torch::equal(batch[1], clipToTensor(frames, box, flip, 12, mean, std)));
      EXPECT_TRUE(torch::all(batch[0] == 42).item<bool>());
      EXPECT_TRUE(torch::all(batch[2] == 42).item<bool>());
    }
  }
  auto wrong = torch::empty({2, 3, 10, 10});
  EXPECT_THROW(writeClip(frames, CropBox{0, 0, 12, 12}, false, 12, mean, std, wrong), Error);
}

TEST(Transforms, CropOfAnotherSizeIsResizedToTheTarget) {
  const auto t = clipToTensor({coordinateFrame(40, 30)}, CropBox{0, 0, 20, 20}, false, 10,
                              {0, 0, 0}, {1, 1, 1});
  EXPECT_EQ(t.sizes(), (std::vector<int64_t>{1, 3, 10, 10}));
}

}  // namespace
}  // namespace tsn

namespace tsn {
namespace {

TEST(Transforms, TestCropsFollowThreeAndTenCrop) {
  const auto one = testCrops({100, 60}, 50, 1);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].first.x, 25);
  const auto three = testCrops({100, 60}, 50, 3);  // along the longer side (x)
  ASSERT_EQ(three.size(), 3u);
  EXPECT_EQ(three[0].first.x, 0);
  EXPECT_EQ(three[1].first.x, 25);
  EXPECT_EQ(three[2].first.x, 50);
  for (const auto& [box, flip] : three) EXPECT_EQ(box.y, 5);
  const auto tall = testCrops({60, 100}, 50, 3);
  EXPECT_EQ(tall[2].first.y, 50);
  const auto ten = testCrops({100, 60}, 50, 10);
  ASSERT_EQ(ten.size(), 10u);
  int flipped = 0;
  for (const auto& [box, flip] : ten) {
    flipped += flip;
    EXPECT_LE(box.x + box.width, 100);
    EXPECT_LE(box.y + box.height, 60);
  }
  EXPECT_EQ(flipped, 5);
  EXPECT_EQ(ten[3].first.x, 50);  // bottom right
  EXPECT_EQ(ten[3].first.y, 10);
  EXPECT_THROW(testCrops({100, 60}, 50, 4), Error);
}

}  // namespace
}  // namespace tsn
