#pragma once
/// @file Mixed precision: the autocast scope of a forward pass and dynamic loss scaling for fp16.

#include <torch/torch.h>

#include "config/Config.h"

namespace tsn {

/// Throws ConfigError for a precision `device` cannot run (fp16 needs a GPU; bf16 on CPU needs
/// a LibTorch with CPU autocast).
void checkPrecision(Precision precision, const torch::Device& device);

/// While alive, eligible operations on `device` (convolutions, matrix products) run in the
/// lower precision, as torch.autocast; callers compute losses outside the scope, in fp32.
/// Restores the previous state when it ends. fp32: does nothing.
class AutocastScope {
 public:
  AutocastScope(const torch::Device& device, Precision precision);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool active_ = false;
  bool cuda_ = false;
  bool wasEnabled_ = false;
  at::ScalarType previousType_ = at::kFloat;
};

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
