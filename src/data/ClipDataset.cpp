#include "data/ClipDataset.h"

#include <torch/torch.h>

#include <chrono>

#include <cmath>
#include <random>

#include "common/Error.h"
#include "common/StageClock.h"
#include "data/Sampling.h"
#include "video/FrameShards.h"
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

std::vector<int64_t> ClipDataset::clipShape() const {
  return {framesPerClip(), 3, data_.targetSize, data_.targetSize};
}

std::unique_ptr<FrameSource> ClipDataset::open(const VideoSample& sample) const {
  if (data_.format == DataFormat::Rawframes) {
    return std::make_unique<RawframesReader>(sample.path, sample.numFrames);
  }
  if (data_.format == DataFormat::Shards) {
    return std::make_unique<shards::ShardVideoReader>(shards::openShared(sample.path),
                                                      *sample.packed);
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
  options.skipLoopFilter = training_ && data_.skipLoopFilter;
  return std::make_unique<VideoReader>(sample.path, options);
}

DecodedClip ClipDataset::read(size_t index, uint64_t seed) const {
  const VideoSample& sample = samples_.at(index);
  std::mt19937_64 rng(seed);
  const auto source = [&] {
    const StageClock::Scope timed(Stage::Open);
    return open(sample);
  }();
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
  DecodedClip clip;
  clip.label = sample.label;
  {
    const StageClock::Scope timed(Stage::Read);
    clip.frames = data_.resize == ResizeMode::Fixed43 ? source->decode(indices, fixed43)
                                                      : source->decode(indices, shortSide);
  }

  const int target = static_cast<int>(data_.targetSize);
  const cv::Size size = clip.frames.front().size();
  if (training_) {
    const CropBox box =
        data_.multiScaleCrop ? multiScaleCrop(size, rng) : randomCrop(size, target, rng);
    const bool flip = data_.flip && std::bernoulli_distribution(0.5)(rng);
    clip.views = {{box, flip}};
  } else {
    clip.views = testCrops(size, target, static_cast<int>(crops_));
  }
  return clip;
}

void ClipDataset::write(const DecodedClip& clip, torch::Tensor out) const {
  const auto frames = static_cast<int64_t>(clip.frames.size());
  TSN_CHECK(out.dim() == 4 && out.size(0) == frames * static_cast<int64_t>(clip.views.size()),
            "clip tensor {} does not hold {} views of {} frames", fmt::join(out.sizes(), "x"),
            clip.views.size(), frames);
  const int target = static_cast<int>(data_.targetSize);
  for (size_t v = 0; v < clip.views.size(); ++v) {
    const auto& [box, flip] = clip.views[v];
    writeClip(clip.frames, box, flip, target, data_.mean, data_.std,
              out.narrow(0, static_cast<int64_t>(v) * frames, frames));
  }
}

Clip ClipDataset::load(size_t index, uint64_t seed) const {
  const DecodedClip decoded = read(index, seed);
  auto frames = torch::empty(clipShape());
  write(decoded, frames);
  return Clip{frames, decoded.label};
}

}  // namespace tsn
