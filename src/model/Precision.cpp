#include "model/Precision.h"

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

}  // namespace tsn
