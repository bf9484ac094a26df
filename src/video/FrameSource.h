#pragma once
/// @file Frames of one video by index, whatever holds them: a video file (VideoReader) or a
/// directory of frame images (RawframesReader), a packed shard (ShardVideoReader). The loader asks
/// for frames {i, j, k}; which ones is sampling's business (DALI's FramesDecoderBase).

#include <opencv2/core.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "video/Jpeg.h"

namespace tsn {

class FrameSource {
 public:
  virtual ~FrameSource() = default;

  virtual int64_t numFrames() const = 0;

  /// The frames at `indices` (any order, repeats allowed) as RGB 8-bit images, scaled so their
  /// short side is `shortSide` (aspect kept; 0 keeps the native size). Throws VideoError naming
  /// the file and frame when one cannot be read.
  virtual std::vector<cv::Mat> decode(const std::vector<int64_t>& indices, int shortSide) = 0;

  /// The same, each frame scaled to exactly `size`, aspect not kept.
  virtual std::vector<cv::Mat> decode(const std::vector<int64_t>& indices, cv::Size size) = 0;
};

/// Output size with the short side scaled to `shortSide` (0: unchanged), aspect kept.
cv::Size scaledSize(int width, int height, int shortSide);

/// `image` with its short side scaled to `shortSide` (bilinear; itself when already so).
cv::Mat resizeShortSide(const cv::Mat& image, int shortSide);

/// For sources that read frames one by one (images, shards): each frame `read(i, target)`
/// returns (it may already come reduced towards `target`: JPEG decode-time scaling), scaled to
/// `target` as FrameSource::decode says.
std::vector<cv::Mat> decodeEach(const std::vector<int64_t>& indices, const jpeg::Target& target,
                                const std::function<cv::Mat(int64_t, const jpeg::Target&)>& read);

}  // namespace tsn
