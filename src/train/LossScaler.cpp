#include "train/LossScaler.h"

#include "common/Error.h"

namespace tsn {

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
