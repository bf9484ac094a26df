#pragma once
/// @file What the video tests share: videos written by our writer or by the ffmpeg CLI, and the
/// CLI's own frames to compare with.

#include <opencv2/core.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "support/TestSupport.h"
#include "synth/SyntheticDataset.h"
#include "video/VideoWriter.h"

namespace tsn::testing {

struct Encoding {
  std::string container;
  int gop;
  int bframes;
};

inline void PrintTo(const Encoding& e, std::ostream* os) {
  *os << e.container << " gop " << e.gop << " bframes " << e.bframes;
}

inline std::string writeVideo(const std::filesystem::path& dir, const Encoding& e, int frames) {
  const auto path = (dir / fmt::format("v_gop{}_b{}.{}", e.gop, e.bframes, e.container)).string();
  VideoWriterOptions o;
  o.width = 160;
  o.height = 120;
  o.fps = 25;
  o.gop = e.gop;
  o.maxBFrames = e.bframes;
  VideoWriter writer(path, o);
  const auto spec = synth::makeVideoSpec(3, 10, 1, 5, o.width, o.height);
  for (int t = 0; t < frames; ++t) writer.write(synth::renderFrame(spec, t));
  writer.close();
  return path;
}

/// Every frame `ffmpeg -vsync passthrough` outputs, as RGB images.
inline std::vector<cv::Mat> ffmpegFrames(const std::string& video, const std::filesystem::path& dir,
                                         int width, int height) {
  const auto raw = dir / "frames.rgb";
  const auto r =
      run(fmt::format("ffmpeg -v error -y -i '{}' -fps_mode passthrough -f rawvideo "
                      "-pix_fmt rgb24 '{}'",
                      video, raw.string()));
  EXPECT_EQ(r.exitCode, 0) << r.output;
  std::ifstream in(raw, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t frameBytes = static_cast<size_t>(width) * height * 3;
  std::vector<cv::Mat> frames;
  for (size_t off = 0; off + frameBytes <= bytes.size(); off += frameBytes) {
    frames.push_back(cv::Mat(height, width, CV_8UC3, bytes.data() + off).clone());
  }
  return frames;
}

inline double meanAbsDiff(const cv::Mat& a, const cv::Mat& b) {
  cv::Mat d;
  cv::absdiff(a, b, d);
  const cv::Scalar m = cv::mean(d);
  return (m[0] + m[1] + m[2]) / 3;
}

}  // namespace tsn::testing
