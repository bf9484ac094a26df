#pragma once
/// @file Where a training run starts from (tsn_dist): the checkpoint it continues (--resume),
/// the weights it starts with (model.pretrained, --finetune), read and checked before any work;
/// then the model every rank trains, the same on all of them.

#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/Config.h"
#include "data/ClipLoader.h"
#include "dist/Communicator.h"
#include "model/Tsn.h"
#include "model/Weights.h"
#include "train/Checkpoint.h"

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

/// The model of the run on `device`: initialised from train.seed, the pretrained or fine-tuning
/// weights loaded, then, after checking that every rank runs the same job (weights' names and
/// shapes, config, file lists, world size), rank 0's weights on every rank. Logs what it loaded
/// and where it resumes from. Every rank calls it.
Tsn buildModel(const Config& config, const RunStart& start, Communicator& comm,
               const ClipLoader& trainLoader, const ClipLoader& valLoader, torch::Device device);

}  // namespace tsn
