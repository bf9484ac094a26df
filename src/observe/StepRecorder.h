#pragma once
/// @file What training steps saw, for replaying them elsewhere (`tsn_dist --save-steps DIR`;
/// tests/train/step_parity.py replays them in PyTorch). Files open with Python's torch.load.

#include <torch/torch.h>

#include <filesystem>

#include "model/Tsn.h"
#include "observe/TrainingObserver.h"

namespace tsn {

class StepRecorder : public TrainingObserver {
 public:
  /// Writes into `dir` (created), as rank `rank`.
  StepRecorder(std::filesystem::path dir, int rank);

  /// DIR/initial.pt: every parameter and buffer of `model` by name, on the CPU in the usual
  /// layout. Rank 0 writes it, before step 1 (every rank starts from the same weights).
  void saveInitial(const Tsn& model) const;

  /// DIR/rank<R>_step<NNNNNN>.pt: {"clips", "labels", "lr", "loss"} of global step `step`
  /// (1-based) on this rank; `loss` is this rank's mean over its batch.
  void saveStep(int64_t step, const torch::Tensor& clips, const torch::Tensor& labels, double lr,
                double loss) const;

  /// Every step the trainer takes (add it with Trainer::addObserver after saveInitial).
  void stepTaken(int64_t step, const Batch& batch, double lr, const torch::Tensor& loss) override {
    saveStep(step, batch.clips, batch.labels, lr, loss.item<double>());
  }

 private:
  std::filesystem::path dir_;
  int rank_;
};

}  // namespace tsn
