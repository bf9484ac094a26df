#include "train/MixedPrecision.h"

#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include "common/Error.h"

// LibTorch 2.4 replaced the per-device autocast functions (deprecated since) by ones taking
// the device type.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define TSN_AUTOCAST_BY_DEVICE_TYPE 1
#endif

namespace tsn {
namespace {

at::ScalarType lowerType(Precision p) {
  return p == Precision::Fp16 ? at::kHalf : at::kBFloat16;
}

bool autocastEnabled(bool cuda) {
#ifdef TSN_AUTOCAST_BY_DEVICE_TYPE
  return at::autocast::is_autocast_enabled(cuda ? at::kCUDA : at::kCPU);
#else
  return cuda ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
#endif
}

void setAutocast(bool cuda, bool enabled, at::ScalarType type) {
#ifdef TSN_AUTOCAST_BY_DEVICE_TYPE
  const auto device = cuda ? at::kCUDA : at::kCPU;
  at::autocast::set_autocast_enabled(device, enabled);
  at::autocast::set_autocast_dtype(device, type);
#else
  if (cuda) {
    at::autocast::set_enabled(enabled);
    at::autocast::set_autocast_gpu_dtype(type);
  } else {
    at::autocast::set_cpu_enabled(enabled);
    at::autocast::set_autocast_cpu_dtype(type);
  }
#endif
}

at::ScalarType autocastType(bool cuda) {
#ifdef TSN_AUTOCAST_BY_DEVICE_TYPE
  return at::autocast::get_autocast_dtype(cuda ? at::kCUDA : at::kCPU);
#else
  return cuda ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
#endif
}

}  // namespace

void checkPrecision(Precision precision, const torch::Device& device) {
  if (precision == Precision::Fp16 && !device.is_cuda()) {
    throw ConfigError(
        "train.precision: fp16 needs a GPU (this run is on the CPU); use bf16 or fp32");
  }
}

AutocastScope::AutocastScope(const torch::Device& device, Precision precision)
    : active_(precision != Precision::Fp32), cuda_(device.is_cuda()) {
  if (!active_) return;
  wasEnabled_ = autocastEnabled(cuda_);
  previousType_ = autocastType(cuda_);
  setAutocast(cuda_, true, lowerType(precision));
  at::autocast::increment_nesting();
}

AutocastScope::~AutocastScope() {
  if (!active_) return;
  // The cast weights are cached for the forward pass and freed when the outermost scope ends.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  setAutocast(cuda_, wasEnabled_, previousType_);
}

LossScaler::LossScaler(bool enabled, double initialScale, int64_t growthInterval)
    : enabled_(enabled), scale_(enabled ? initialScale : 1.0), growthInterval_(growthInterval) {
  TSN_CHECK(initialScale > 0 && growthInterval > 0, "bad loss scaler settings");
}

void LossScaler::restore(double scale, int64_t goodSteps) {
  TSN_CHECK(scale > 0 && goodSteps >= 0, "bad loss scaler state {} {}", scale, goodSteps);
  scale_ = scale;
  goodSteps_ = goodSteps;
}

torch::Tensor LossScaler::scaleLoss(const torch::Tensor& loss) const {
  return enabled_ ? loss * scale_ : loss;
}

bool LossScaler::unscaleAndUpdate(const std::vector<torch::Tensor>& parameters) {
  if (!enabled_) return true;
  torch::NoGradGuard noGrad;
  std::vector<torch::Tensor> grads;
  for (const auto& p : parameters) {
    if (p.grad().defined()) grads.push_back(p.grad());
  }
  torch::Tensor bad;
  if (!grads.empty() && grads.front().is_cuda()) {
    // GradScaler's fused kernel: every gradient unscaled and checked in one multi-tensor pass.
    const auto options = grads.front().options().dtype(torch::kFloat32);
    bad = torch::zeros({1}, options);
    at::_amp_foreach_non_finite_check_and_unscale_(grads, bad,
                                                   torch::full({1}, 1.0 / scale_, options));
  } else {
    for (auto& grad : grads) {
      grad.mul_(1.0 / scale_);
      const auto nonFinite = grad.isfinite().logical_not().any();
      bad = bad.defined() ? bad.logical_or(nonFinite) : nonFinite;
    }
  }
  const bool overflow = bad.defined() && bad.item<double>() != 0;  // one device sync per step
  if (overflow) {
    scale_ /= 2;
    goodSteps_ = 0;
    return false;
  }
  if (++goodSteps_ >= growthInterval_) {
    scale_ *= 2;
    goodSteps_ = 0;
  }
  return true;
}

}  // namespace tsn
