#pragma once
/// @file Frames stored as images, MMAction2's rawframes layout: a directory per video with
/// img_00001.jpg for frame 0, img_00002.jpg for frame 1, ...

#include <cstdint>
#include <string>
#include <vector>

#include "video/FrameSource.h"

namespace tsn {

class RawframesReader : public FrameSource {
 public:
  /// `dir` holds `numFrames` images (the count comes from the file list). Throws VideoError
  /// when `dir` is not a directory.
  RawframesReader(std::string dir, int64_t numFrames);

  int64_t numFrames() const override { return numFrames_; }
  /// Reads each wanted image (regular files only; JPEG through TurboJPEG, anything else through
  /// OpenCV); VideoError (missing frame image) naming the image that cannot be read, invalid
  /// data naming a damaged JPEG.
  std::vector<cv::Mat> decode(const std::vector<int64_t>& indices, int shortSide) override;
  std::vector<cv::Mat> decode(const std::vector<int64_t>& indices, cv::Size size) override;

 private:
  cv::Mat read(int64_t index, const jpeg::Target& target);
  std::string dir_;
  int64_t numFrames_;
  std::vector<uint8_t> bytes_;  ///< scratch for one image file
};

}  // namespace tsn
