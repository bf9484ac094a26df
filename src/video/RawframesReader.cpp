#include "video/RawframesReader.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <fstream>
#include <iterator>

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

cv::Mat RawframesReader::read(int64_t index, const jpeg::Target& target) {
  const std::string file = fmt::format("{}/img_{:05d}.jpg", dir_, index + 1);
  requireRegularFile(file, VideoFailure::MissingFrameImage);
  std::ifstream in(file, std::ios::binary);
  bytes_.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  const auto unreadable = [&] {
    return VideoError(VideoFailure::MissingFrameImage,
                      fmt::format("{}: cannot read frame image", file));
  };
  if (!in.good() && !in.eof()) throw unreadable();
  jpeg::Decoder& decoder = jpeg::Decoder::forThisThread();
  int width = 0, height = 0;
  if (decoder.dimensions(bytes_.data(), bytes_.size(), width, height)) {
    return decoder.decode(bytes_.data(), bytes_.size(), target, [&] { return file; });
  }
  // Not a JPEG despite its name (a PNG, say): whatever OpenCV reads.
  cv::Mat bgr = cv::imdecode(bytes_, cv::IMREAD_COLOR);
  if (bgr.empty()) throw unreadable();
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  return rgb;
}

std::vector<cv::Mat> decodeEach(const std::vector<int64_t>& indices, const jpeg::Target& target,
                                const std::function<cv::Mat(int64_t, const jpeg::Target&)>& read) {
  std::vector<cv::Mat> frames;
  for (const int64_t i : indices) {
    cv::Mat frame = read(i, target);
    if (target.size.area() > 0 && frame.size() != target.size) {
      cv::Mat exact;
      cv::resize(frame, exact, target.size, 0, 0, cv::INTER_LINEAR);
      frame = exact;
    } else if (target.size.area() == 0) {
      frame = resizeShortSide(frame, target.shortSide);
    }
    frames.push_back(frame);
  }
  return frames;
}

std::vector<cv::Mat> RawframesReader::decode(const std::vector<int64_t>& indices, int shortSide) {
  return decodeEach(indices, jpeg::Target{shortSide, {}},
                    [this](int64_t i, const jpeg::Target& t) { return read(i, t); });
}

std::vector<cv::Mat> RawframesReader::decode(const std::vector<int64_t>& indices, cv::Size size) {
  return decodeEach(indices, jpeg::Target{0, size},
                    [this](int64_t i, const jpeg::Target& t) { return read(i, t); });
}

}  // namespace tsn
