#pragma once
/// @file Scoring videos with a model, sharded over ranks: per-video scores gathered everywhere,
/// and the metrics computed from them (top-1, top-5, mean class accuracy, confusion matrix).

#include <torch/types.h>

#include <string>
#include <utility>
#include <vector>

#include "data/ClipLoader.h"
#include "distributed/Communicator.h"
#include "model/Precision.h"
#include "model/Tsn.h"

namespace tsn {

/// Every video's class scores (the model's logits averaged over its clips and crops), in
/// dataset order, and the videos that could not be read.
struct VideoScores {
  std::vector<int64_t> ids;                              ///< dataset indices, ascending
  std::vector<int64_t> labels;                           ///< as listed
  torch::Tensor scores;                                  ///< float [ids.size(), num_classes]
  std::vector<std::pair<int64_t, std::string>> skipped;  ///< dataset index, why
};

struct EvalResult {
  double top1 = 0;
  double top5 = 0;
  double meanClassAccuracy = 0;  ///< mean over the classes present of their top-1
  double loss = 0;               ///< cross entropy of the video scores
  int64_t clips = 0;             ///< videos evaluated
  int64_t dropped = 0;           ///< listed but unreadable
};

/// Runs `model` over this rank's shard of `loader` (each video once: no padded duplicates) and
/// gathers every rank's scores: every rank returns all videos. The forward pass runs under
/// autocast for `precision`. With `progress`, rank 0 logs progress and an ETA every 10 s.
VideoScores scoreVideos(Tsn& model, ClipLoader& loader, const torch::Device& device,
                        Communicator& comm, int64_t epoch = 0,
                        Precision precision = Precision::Fp32, bool progress = false);

/// Metrics of gathered scores.
EvalResult summarize(const VideoScores& scores);

/// [num_classes, num_classes] counts: row = true class, column = predicted.
torch::Tensor confusionMatrix(const VideoScores& scores);

/// scoreVideos + summarize; restores the model's mode. Every rank gets the same result.
EvalResult evaluate(Tsn& model, ClipLoader& loader, const torch::Device& device, Communicator& comm,
                    int64_t epoch = 0, Precision precision = Precision::Fp32);

/// Every video's scores from the model of `checkpoint`, sharded over the ranks of `comm` and
/// gathered on every rank; the loader too (--save-inputs reads it again). ConfigError for a
/// checkpoint that does not fit `config`.
struct ScoredVideos {
  VideoScores scores;
  std::shared_ptr<ClipLoader> loader;
};
ScoredVideos scoreCheckpoint(const Config& config, const std::string& checkpoint,
                             std::vector<VideoSample> samples, const std::string& listName,
                             Communicator& comm, const torch::Device& device);

}  // namespace tsn
