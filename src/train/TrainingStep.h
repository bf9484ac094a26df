#pragma once
/// @file One training step of a TSN: what Trainer runs for every batch and what `tsn_bench
/// train` times. Forward under autocast (train.precision), the loss in fp32, backward (scaled
/// for fp16) while the gradient buckets are all-reduced on several ranks, unscaling and the
/// overflow check, the optional NaN/Inf check and gradient clipping, then SGD.

#include <torch/torch.h>

#include <memory>
#include <vector>

#include "config/Config.h"
#include "distributed/Communicator.h"
#include "distributed/GradientReducer.h"
#include "model/Precision.h"
#include "model/Tsn.h"
#include "observe/StepTimes.h"
#include "train/LossScaler.h"
#include "train/Sgd.h"

namespace tsn {

class TrainingStep {
 public:
  /// Trains the parameters of `model` that require a gradient (partial BN freezes some) as
  /// config.train says; with more than one rank in `comm`, gradients are averaged over the ranks
  /// in buckets of config.dist.bucket_mb during backward.
  TrainingStep(const Config& config, Tsn model, Communicator& comm, torch::Device device);

  struct Outcome {
    torch::Tensor scores;  ///< [N, classes], fp32, on the device
    torch::Tensor loss;    ///< mean cross-entropy, fp32 scalar on the device (not synchronised)
    bool applied = true;   ///< false: fp16 gradients overflowed and the update was skipped
  };

  /// One step on a batch at learning rate `lr`. `clips` / `labels` may be on the host (pinned
  /// ones are copied without blocking) or already on the device. `step` (1-based) only numbers
  /// train.check_finite's errors. With `times`, adds the seconds spent in forward + backward,
  /// waiting for the gradient all-reduce and the optimizer (on a GPU the host waits for the
  /// compute stream at each phase's end, so the figures are the device's).
  Outcome run(const torch::Tensor& clips, const torch::Tensor& labels, double lr, int64_t step,
              PhaseTimes* times = nullptr);

  Sgd& optimizer() { return optimizer_; }
  LossScaler& scaler() { return scaler_; }
  /// Null with one rank.
  const GradientReducer* reducer() const { return reducer_.get(); }
  const std::vector<torch::Tensor>& trainable() const { return trainable_; }

 private:
  /// NaN/Inf in the loss, any gradient or any parameter: an error naming the first.
  void checkFinite(const torch::Tensor& loss, int64_t step) const;

  TrainConfig config_;
  Tsn model_;
  torch::Device device_;
  std::vector<torch::Tensor> trainable_;
  std::unique_ptr<GradientReducer> reducer_;
  Sgd optimizer_;
  LossScaler scaler_;
};

}  // namespace tsn
