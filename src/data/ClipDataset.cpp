#include "data/ClipDataset.h"

#include <torch/torch.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <cmath>
#include <random>

#include "common/Error.h"
#include "common/Stopwatch.h"
#include "data/Sampling.h"
#include "data/Transforms.h"
#include "video/AvError.h"
#include "video/InputFile.h"
#include "video/VideoReader.h"

namespace tsn {

ClipDataset::ClipDataset(std::vector<VideoSample> samples, const ModelConfig& model,
                         const DataConfig& data, bool training, int64_t numClips, int64_t crops)
    : samples_(std::move(samples)),
      model_(model),
      data_(data),
      training_(training),
      numClips_(training ? 1 : numClips),
      crops_(training ? 1 : crops) {}

int64_t ClipDataset::framesPerClip() const {
  return model_.segNum * model_.seglen * numClips_ * crops_;
}

Clip ClipDataset::load(size_t index, uint64_t seed) const {
  const VideoSample& sample = samples_.at(index);
  std::mt19937_64 rng(seed);

  // Rawframes lists carry the frame count; videos are opened once to count theirs.
  std::unique_ptr<VideoReader> reader;
  int64_t numFrames = sample.numFrames;
  if (data_.format == DataFormat::Video) {
    // data.decode_timeout_s bounds the whole sample: opening and decoding share it.
    const Stopwatch time;
    ReaderOptions options;
    options.timeoutS = data_.decodeTimeoutS;
    options.containers = fmt::format("{}", fmt::join(data_.containers, ","));
    reader = std::make_unique<VideoReader>(sample.path, options);
    if (data_.decodeTimeoutS > 0) {
      reader->setTimeout(std::max(1e-3, data_.decodeTimeoutS - time.seconds()));
    }
    numFrames = reader->info().numFrames;
  }

  std::vector<int64_t> indices;
  if (training_) {
    indices = sampleTrainFrames(numFrames, model_.segNum, model_.seglen, rng, data_.shortVideo);
  } else {
    for (int64_t c = 0; c < numClips_; ++c) {
      const auto clip =
          sampleEvalFrames(numFrames, model_.segNum, model_.seglen, c, numClips_, data_.shortVideo);
      indices.insert(indices.end(), clip.begin(), clip.end());
    }
  }

  std::vector<cv::Mat> frames;
  const int shortSide = static_cast<int>(data_.shortSize);
  // PaddleVideo's reader scales every frame to a fixed 4:3 size whatever its aspect.
  const cv::Size fixed43(static_cast<int>(std::lround(shortSide * 4.0 / 3.0)), shortSide);
  const bool fixed = data_.resize == ResizeMode::Fixed43;
  if (reader) {
    frames = fixed ? reader->decode(indices, fixed43) : reader->decode(indices, shortSide);
  } else {
    requireDirectory(sample.path);
    for (const int64_t i : indices) {
      // MMAction2's rawframes layout: img_00001.jpg is frame 0.
      const std::string file = fmt::format("{}/img_{:05d}.jpg", sample.path, i + 1);
      requireRegularFile(file, VideoFailure::MissingFrameImage);
      cv::Mat bgr = cv::imread(file, cv::IMREAD_COLOR);
      if (bgr.empty()) {
        throw VideoError(VideoFailure::MissingFrameImage,
                         fmt::format("{}: cannot read frame image", file));
      }
      cv::Mat rgb;
      cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
      if (fixed) {
        cv::resize(rgb, rgb, fixed43, 0, 0, cv::INTER_LINEAR);
        frames.push_back(rgb);
      } else {
        frames.push_back(resizeShortSide(rgb, shortSide));
      }
    }
  }

  const int target = static_cast<int>(data_.targetSize);
  const cv::Size size = frames.front().size();
  if (training_) {
    const CropBox box =
        data_.multiScaleCrop ? multiScaleCrop(size, rng) : randomCrop(size, target, rng);
    const bool flip = data_.flip && std::bernoulli_distribution(0.5)(rng);
    return Clip{clipToTensor(frames, box, flip, target, data_.mean, data_.std), sample.label};
  }
  std::vector<torch::Tensor> views;
  for (const auto& [box, flip] : testCrops(size, target, static_cast<int>(crops_))) {
    views.push_back(clipToTensor(frames, box, flip, target, data_.mean, data_.std));
  }
  return Clip{torch::cat(views, 0), sample.label};
}

}  // namespace tsn
