#pragma once
/// @file What training steps saw, for replaying them elsewhere (`tsn_dist --save-steps DIR`;
/// tests/python/step_parity.py replays them in PyTorch). Files open with Python's torch.load.

#include <torch/torch.h>

#include <filesystem>

#include "model/Tsn.h"
#include "train/Trainer.h"

namespace tsn {

class StepRecorder {
 public:
  /// Writes into `dir` (created), as rank `rank`.
  StepRecorder(std::filesystem::path dir, int rank);

  /// DIR/initial.pt: every parameter and buffer of `model` by name, on the CPU in the usual
  /// layout. One rank writes it, before step 1 (every rank starts from the same weights).
  void saveInitial(const Tsn& model) const;

  /// DIR/rank<R>_step<NNNNNN>.pt: {"clips", "labels", "lr", "loss"} of global step `step`
  /// (1-based) on this rank; `loss` is this rank's mean over its batch.
  void saveStep(int64_t step, const torch::Tensor& clips, const torch::Tensor& labels, double lr,
                double loss) const;

  /// Saves `model` as the starting weights (on rank 0) and every step `trainer` takes.
  void attach(Trainer& trainer, const Tsn& model);

 private:
  std::filesystem::path dir_;
  int rank_;
};

}  // namespace tsn
