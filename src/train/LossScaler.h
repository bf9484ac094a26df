#pragma once
/// @file Dynamic loss scaling for fp16 training.

#include <torch/torch.h>

#include <vector>

namespace tsn {

/// Dynamic loss scaling for fp16 (as torch.cuda.amp.GradScaler): the loss is multiplied by a
/// large factor so small gradients do not flush to zero; gradients are divided by it before the
/// step. A step whose gradients overflowed is skipped and the factor halved; after
/// `growthInterval` good steps in a row it doubles. Disabled, every call is the identity.
class LossScaler {
 public:
  explicit LossScaler(bool enabled, double initialScale = 65536.0, int64_t growthInterval = 2000);

  bool enabled() const { return enabled_; }
  double scale() const { return scale_; }
  int64_t goodSteps() const { return goodSteps_; }
  /// For resuming: the state another scaler reached.
  void restore(double scale, int64_t goodSteps);

  torch::Tensor scaleLoss(const torch::Tensor& loss) const;
  /// Divides every gradient by the scale. False if any gradient has an Inf or NaN: the caller
  /// skips the optimizer step. Updates the scale either way. On several ranks the gradients are
  /// already averaged (identical), so every rank decides the same.
  bool unscaleAndUpdate(const std::vector<torch::Tensor>& parameters);

 private:
  bool enabled_;
  double scale_;
  int64_t growthInterval_;
  int64_t goodSteps_ = 0;
};

}  // namespace tsn
