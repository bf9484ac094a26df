#pragma once
/// @file Loading weights saved from Python into a TSN.

#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "model/Tsn.h"

namespace tsn {

using StateDict = std::map<std::string, torch::Tensor>;

/// Tensors by name from a file Python wrote with `torch.save(dict(state_dict), path)`: a plain
/// dict of name -> tensor, or a checkpoint dict holding one under "state_dict" or "model".
/// (An OrderedDict straight from `module.state_dict()` carries metadata LibTorch cannot read;
/// the error says to wrap it in dict().) Throws ConfigError naming the file.
StateDict readStateDict(const std::string& path);

struct LoadReport {
  int64_t loaded = 0;
  std::vector<std::string> skipped;  ///< classifier tensors left at their initial values
};

/// Copies `weights` into `model`. Names are ours (backbone.*, head.fc.*) or torchvision's ResNet
/// names (conv1.weight, layer1.0.bn1.running_mean, ..., fc.*), which map under backbone.;
/// torchvision's fc (ImageNet's classes) and a classifier of another shape are skipped and
/// reported. Every backbone tensor must be present with its shape and no unknown tensor may be
/// left over; otherwise ConfigError naming `source` and the key. `dropHead` leaves the classifier
/// at its initial values whatever its shape (fine-tuning on other classes).
LoadReport loadWeights(Tsn& model, const StateDict& weights, const std::string& source,
                       bool dropHead = false);

}  // namespace tsn
