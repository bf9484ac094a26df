#pragma once
/// @file One TSN clip per sample: sample frame indices, decode them, transform.

#include <torch/types.h>
#include <opencv2/core.hpp>

#include <cstdint>
#include <memory>
#include <vector>

#include "config/Config.h"
#include "data/FileList.h"
#include "data/Transforms.h"
#include "video/FrameSource.h"

namespace tsn {

struct Clip {
  torch::Tensor frames;  ///< [T, 3, S, S], T = seg_num * seglen (times clips in evaluation)
  int64_t label = 0;
};

/// A sample's decoded frames and the views to cut from them: what reading a file yields, before
/// any tensor exists.
struct DecodedClip {
  std::vector<cv::Mat> frames;                  ///< RGB, scaled as data.short_size says
  std::vector<std::pair<CropBox, bool>> views;  ///< crop and flip of each view, in order
  int64_t label = 0;
};

class ClipDataset {
 public:
  /// `training` selects random sampling and augmentation; otherwise segment centres,
  /// `numClips` clips x `crops` test crops (1, 3 or 10) concatenated along T, so the model's
  /// average over T averages them.
  ClipDataset(std::vector<VideoSample> samples, const ModelConfig& model, const DataConfig& data,
              bool training, int64_t numClips = 1, int64_t crops = 1);
  virtual ~ClipDataset() = default;

  size_t size() const { return samples_.size(); }
  bool training() const { return training_; }
  const std::vector<VideoSample>& samples() const { return samples_; }
  int64_t framesPerClip() const;
  /// The shape of one sample's tensor: [framesPerClip(), 3, S, S].
  std::vector<int64_t> clipShape() const;

  /// Loads sample `index`: read() and then write() into a new tensor.
  Clip load(size_t index, uint64_t seed) const;

  /// Reads sample `index`: opens it, samples its frames, decodes them and draws its crop and
  /// flip; `seed` drives every random choice. Throws tsn::Error naming the file on a decode
  /// failure. Thread-safe. (Virtual for test doubles of a storage that fails.)
  virtual DecodedClip read(size_t index, uint64_t seed) const;

  /// Writes a read sample's views, transformed and normalised, into `out`: a contiguous float
  /// tensor of clipShape() (the sample's row of a batch).
  void write(const DecodedClip& clip, torch::Tensor out) const;

 private:
  /// The frames of `sample`: a VideoReader, or a RawframesReader for data.format = rawframes.
  std::unique_ptr<FrameSource> open(const VideoSample& sample) const;

  std::vector<VideoSample> samples_;
  ModelConfig model_;
  DataConfig data_;
  bool training_;
  int64_t numClips_;
  int64_t crops_;
};

}  // namespace tsn
