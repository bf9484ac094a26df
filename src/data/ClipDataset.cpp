#include "data/ClipDataset.h"

#include <torch/torch.h>

#include <chrono>

#include <cmath>
#include <random>

#include "common/Error.h"
#include "data/Sampling.h"
#include "data/Transforms.h"
#include "video/RawframesReader.h"
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

std::unique_ptr<FrameSource> ClipDataset::open(const VideoSample& sample) const {
  if (data_.format == DataFormat::Rawframes) {
    return std::make_unique<RawframesReader>(sample.path, sample.numFrames);
  }
  ReaderOptions options;
  options.timeoutS = data_.decodeTimeoutS;
  // data.decode_timeout_s bounds the whole sample: opening and decoding share one deadline.
  if (data_.decodeTimeoutS > 0) {
    options.deadline = std::chrono::steady_clock::now() +
                       std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                           std::chrono::duration<double>(data_.decodeTimeoutS));
  }
  options.containers = fmt::format("{}", fmt::join(data_.containers, ","));
  return std::make_unique<VideoReader>(sample.path, options);
}

Clip ClipDataset::load(size_t index, uint64_t seed) const {
  const VideoSample& sample = samples_.at(index);
  std::mt19937_64 rng(seed);
  const auto source = open(sample);
  const int64_t numFrames = source->numFrames();

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

  const int shortSide = static_cast<int>(data_.shortSize);
  // PaddleVideo's reader scales every frame to a fixed 4:3 size whatever its aspect.
  const cv::Size fixed43(static_cast<int>(std::lround(shortSide * 4.0 / 3.0)), shortSide);
  const std::vector<cv::Mat> frames = data_.resize == ResizeMode::Fixed43
                                          ? source->decode(indices, fixed43)
                                          : source->decode(indices, shortSide);

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
