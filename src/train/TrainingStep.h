#pragma once
/// @file One training step of a TSN: what Trainer runs for every batch and what `tsn_bench
/// train` times. Forward under autocast (train.precision), the loss in fp32, backward (scaled
/// for fp16) while the gradient buckets are all-reduced on several ranks, unscaling and the
/// overflow check, the optional NaN/Inf check and gradient clipping, then SGD.

#include <torch/torch.h>

#include <memory>
#include <optional>
#include <vector>

#include "config/Config.h"
#include "data/Transforms.h"
#include "distributed/Communicator.h"
#include "distributed/GradientReducer.h"
#include "model/Precision.h"
#include "model/Tsn.h"
#include "observe/PhaseClock.h"
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
    torch::Tensor labels;  ///< the batch's labels, on the device
    bool applied = true;   ///< false: fp16 gradients overflowed and the update was skipped
  };

  /// One step on a batch at learning rate `lr`. `clips` / `labels` may be on the host (pinned
  /// ones are copied on a stream of their own that the step's stream waits for, so the copy
  /// overlaps the previous step's work) or already on the device; uint8 clips are normalised
  /// there (data.mean, data.std). `step` (1-based) only numbers train.check_finite's errors.
  /// With `clock`, marks forward + backward, the wait for the gradient all-reduce and the
  /// optimizer (read once per window: on a GPU the host does not wait here). Nothing in it
  /// waits for the device but fp16's overflow check and train.check_finite.
  Outcome run(const torch::Tensor& clips, const torch::Tensor& labels, double lr, int64_t step,
              PhaseClock* clock = nullptr);

  /// Bytes copied from the host to the device by run() so far.
  int64_t hostToDeviceBytes() const { return h2dBytes_; }

  Sgd& optimizer() { return optimizer_; }
  LossScaler& scaler() { return scaler_; }
  /// Null with one rank.
  const GradientReducer* reducer() const { return reducer_.get(); }
  const std::vector<torch::Tensor>& trainable() const { return trainable_; }

 private:
  /// NaN/Inf in the loss, any gradient or any parameter: an error naming the first.
  void checkFinite(const torch::Tensor& loss, int64_t step) const;
  /// `t` on the device (a pinned host tensor copied on the upload stream; see run()).
  torch::Tensor toDevice(const torch::Tensor& t);

  TrainConfig config_;
  Communicator& comm_;
  Tsn model_;
  torch::Device device_;
  std::vector<torch::Tensor> trainable_;
  std::unique_ptr<GradientReducer> reducer_;
  Sgd optimizer_;
  LossScaler scaler_;
  ClipNormalizer normalize_;
  int64_t h2dBytes_ = 0;
  std::optional<c10::Stream> upload_;  ///< the stream pinned batches are copied on (GPU)
};

/// Scales the gradients of `parameters` so that their joint 2-norm is at most `maxNorm`, as
/// torch.nn.utils.clip_grad_norm_, on the device: the norm is not read back (LibTorch's C++
/// clip_grad_norm_ returns it as a double, a host wait every step). Returns the norm (a tensor).
torch::Tensor clipGradNorm(const std::vector<torch::Tensor>& parameters, double maxNorm);

}  // namespace tsn
