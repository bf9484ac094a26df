#pragma once
/// @file Runs a model over an evaluation loader: top-1, top-5, loss.

#include <torch/types.h>

#include "data/ClipLoader.h"
#include "model/Tsn.h"

namespace tsn {

struct EvalResult {
  double top1 = 0;
  double top5 = 0;
  double loss = 0;
  int64_t clips = 0;    ///< evaluated
  int64_t dropped = 0;  ///< listed but unreadable
};

/// Evaluates `model` on every batch of `loader` for `epoch`; restores the model's mode.
EvalResult evaluate(Tsn& model, ClipLoader& loader, const torch::Device& device, int64_t epoch = 0);

}  // namespace tsn
