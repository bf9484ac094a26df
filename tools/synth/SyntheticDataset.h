#pragma once
/// @file A small, learnable video data set made of real H.264/MP4 files.
///
/// Each class has its own object (shape, hue, brightness) and its own direction of motion, which
/// a fading trail behind the object shows in every frame; each video varies the background,
/// start position, size, speed, the colour a little, the noise and a grey distractor. Neighbouring
/// classes differ in hue, brightness and shape, and objects span about half the frame, so a
/// tiny TSN at 56 px separates every class. Everything is a function of (seed, class, video
/// index): the same seed gives the same frames.

#include <opencv2/core.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace tsn::synth {

struct Options {
  std::string outDir;
  int classes = 10;
  int videosPerClass = 40;
  double valFraction = 0.2;  ///< of each class's videos go to val.list
  uint64_t seed = 0;
  int width = 160;
  int height = 120;
  int fps = 25;
  double seconds = 3.0;
  int gop = 25;
  int maxBFrames = 2;
  int jobs = 0;  ///< encoding threads; 0: one per core
};

struct Summary {
  int64_t trainVideos = 0;
  int64_t valVideos = 0;
  int64_t framesPerVideo = 0;
  std::vector<std::string> classNames;
};

/// What one video shows; derived from (seed, class, index).
struct VideoSpec {
  int classId = 0;
  int shape = 0;     ///< 0 square, 1 disk, 2 triangle
  cv::Scalar color;  ///< RGB
  cv::Point2d start;
  cv::Point2d velocity;  ///< pixels per frame
  double radius = 0;
  cv::Scalar background[2];  ///< top and bottom of a vertical gradient, RGB
  cv::Point2d distractorStart;
  cv::Point2d distractorVelocity;
  double noiseSigma = 0;
  uint64_t noiseSeed = 0;
  int width = 0;
  int height = 0;
};

VideoSpec makeVideoSpec(int classId, int numClasses, int videoIndex, uint64_t seed, int width,
                        int height);

/// Frame t of a video: RGB CV_8UC3.
cv::Mat renderFrame(const VideoSpec& spec, int t);

/// Writes <outDir>/videos/class_XX/*.mp4, train.list, val.list and classes.txt.
Summary makeDataset(const Options& options);

}  // namespace tsn::synth
