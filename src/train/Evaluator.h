#pragma once
/// @file Runs a model over an evaluation loader: top-1, top-5, loss.

#include <torch/types.h>

#include "data/ClipLoader.h"
#include "dist/Communicator.h"
#include "model/Tsn.h"
#include "train/MixedPrecision.h"

namespace tsn {

struct EvalResult {
  double top1 = 0;
  double top5 = 0;
  double loss = 0;
  int64_t clips = 0;    ///< evaluated
  int64_t dropped = 0;  ///< listed but unreadable
};

/// Evaluates `model` on this rank's shard of `loader`, sums the counts over every rank of
/// `comm`, and restores the model's mode. Every rank gets the same result. The forward pass
/// runs under autocast for `precision`.
EvalResult evaluate(Tsn& model, ClipLoader& loader, const torch::Device& device, Communicator& comm,
                    int64_t epoch = 0, Precision precision = Precision::Fp32);

}  // namespace tsn
