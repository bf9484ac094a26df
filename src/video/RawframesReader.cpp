#include "video/RawframesReader.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "video/AvError.h"
#include "video/InputFile.h"

namespace tsn {

cv::Size scaledSize(int width, int height, int shortSide) {
  if (shortSide <= 0) return {width, height};
  const double scale = static_cast<double>(shortSide) / std::min(width, height);
  const auto round = [scale](int v) {
    return std::max(1, static_cast<int>(std::lround(v * scale)));
  };
  return width <= height ? cv::Size(shortSide, round(height)) : cv::Size(round(width), shortSide);
}

cv::Mat resizeShortSide(const cv::Mat& image, int shortSide) {
  const cv::Size size = scaledSize(image.cols, image.rows, shortSide);
  if (size == image.size()) return image;
  cv::Mat out;
  cv::resize(image, out, size, 0, 0, cv::INTER_LINEAR);
  return out;
}

RawframesReader::RawframesReader(std::string dir, int64_t numFrames)
    : dir_(std::move(dir)), numFrames_(numFrames) {
  requireDirectory(dir_);
}

cv::Mat RawframesReader::read(int64_t index) const {
  const std::string file = fmt::format("{}/img_{:05d}.jpg", dir_, index + 1);
  requireRegularFile(file, VideoFailure::MissingFrameImage);
  cv::Mat bgr = cv::imread(file, cv::IMREAD_COLOR);
  if (bgr.empty()) {
    throw VideoError(VideoFailure::MissingFrameImage,
                     fmt::format("{}: cannot read frame image", file));
  }
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  return rgb;
}

std::vector<cv::Mat> decodeEach(const std::vector<int64_t>& indices, int shortSide,
                                const std::function<cv::Mat(int64_t)>& read) {
  std::vector<cv::Mat> frames;
  for (const int64_t i : indices) frames.push_back(resizeShortSide(read(i), shortSide));
  return frames;
}

std::vector<cv::Mat> decodeEach(const std::vector<int64_t>& indices, cv::Size size,
                                const std::function<cv::Mat(int64_t)>& read) {
  std::vector<cv::Mat> frames;
  for (const int64_t i : indices) {
    cv::Mat frame;
    cv::resize(read(i), frame, size, 0, 0, cv::INTER_LINEAR);
    frames.push_back(frame);
  }
  return frames;
}

std::vector<cv::Mat> RawframesReader::decode(const std::vector<int64_t>& indices, int shortSide) {
  return decodeEach(indices, shortSide, [this](int64_t i) { return read(i); });
}

std::vector<cv::Mat> RawframesReader::decode(const std::vector<int64_t>& indices, cv::Size size) {
  return decodeEach(indices, size, [this](int64_t i) { return read(i); });
}

}  // namespace tsn
