#pragma once
/// @file Encodes RGB frames into a video file through libavcodec/libavformat (H.264 by default).

#include <opencv2/core.hpp>

#include <memory>
#include <string>

namespace tsn {

struct VideoWriterOptions {
  int width = 0;
  int height = 0;
  int fps = 25;
  int gop = 25;        ///< frames between keyframes
  int maxBFrames = 2;  ///< 0 for an I/P-only stream
  int crf = 23;        ///< x264 constant rate factor
  std::string encoder = "libx264";
  std::string preset = "veryfast";
  int rotation = 0;  ///< display rotation metadata, clockwise degrees (0, 90, 180, 270)
};

class VideoWriter {
 public:
  /// Opens `path` for writing; the container follows the extension (.mp4, .mkv, ...).
  VideoWriter(const std::string& path, const VideoWriterOptions& options);
  ~VideoWriter();
  VideoWriter(const VideoWriter&) = delete;
  VideoWriter& operator=(const VideoWriter&) = delete;

  /// Appends one RGB 8-bit frame of the configured size.
  void write(const cv::Mat& rgb);

  /// Flushes the encoder and writes the trailer. Called by the destructor if not called.
  void close();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace tsn
