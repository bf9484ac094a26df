#pragma once
/// @file What a job starts from: the checkpoint a training run continues (--resume), the weights
/// it starts with (model.pretrained, --finetune), read and checked before any work; and the
/// model of a checkpoint for evaluation and inference.

#include <torch/torch.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "checkpoint/Checkpoint.h"
#include "config/Config.h"
#include "model/Tsn.h"
#include "model/Weights.h"

namespace tsn {

struct StartOptions {
  std::string resume;    ///< "", "auto" (newest valid checkpoint in train.work_dir) or a file
  std::string finetune;  ///< a checkpoint whose weights but classifier start the model
};

struct RunStart {
  StartOptions options;
  /// The checkpoint to continue from (its file and contents); none for a fresh start.
  std::optional<std::pair<std::string, Checkpoint>> resume;
  /// --resume auto: the newer checkpoints it skipped, each with why.
  std::vector<std::string> skipped;
  StateDict pretrained;  ///< model.pretrained's tensors
  StateDict finetune;    ///< --finetune's tensors
};

/// Reads everything a run starts from. ConfigError naming the file for one that cannot be read
/// or does not fit config.model.
RunStart readRunStart(const Config& config, const StartOptions& options);

/// The model of a tsn-dist checkpoint, on `device`, in eval mode (channels-last as the config
/// says). ConfigError (one line, naming the file) for a checkpoint that is unreadable or of
/// another model than `config` describes.
Tsn loadCheckpointModel(const Config& config, const std::string& path, const torch::Device& device);

}  // namespace tsn
