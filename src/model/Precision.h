#pragma once
/// @file The precision of a forward pass: which a device can run, and the autocast scope.

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

}  // namespace tsn
