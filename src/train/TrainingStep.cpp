#include "train/TrainingStep.h"

#include <cmath>

#include "common/Error.h"

#if defined(TSN_WITH_CUDA) && __has_include(<ATen/cuda/CUDAEvent.h>)
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#define TSN_CUDA_UPLOAD 1
#endif

namespace tsn {
namespace {

std::vector<std::pair<std::string, torch::Tensor>> trainableByName(const Tsn& model) {
  std::vector<std::pair<std::string, torch::Tensor>> named;
  for (const auto& p : model->named_parameters()) {
    if (p.value().requires_grad()) named.emplace_back(p.key(), p.value());
  }
  return named;
}

}  // namespace

TrainingStep::TrainingStep(const Config& config, Tsn model, Communicator& comm,
                           torch::Device device)
    : config_(config.train),
      comm_(comm),
      model_(std::move(model)),
      device_(device),
      optimizer_(trainableByName(model_), config.train.momentum, config.train.weightDecay),
      scaler_(config.train.precision == Precision::Fp16),
      normalize_(config.data.mean, config.data.std, device) {
  checkPrecision(config.train.precision, device);
  if (config.train.channelsLast) model_->useChannelsLast();
  for (const auto& [name, p] : optimizer_.parameters()) trainable_.push_back(p);
  if (comm.size() > 1) {
    reducer_ = std::make_unique<GradientReducer>(trainable_, comm, config.dist.bucketMb,
                                                 config.dist.firstBucketMb);
  }
}

torch::Tensor TrainingStep::toDevice(const torch::Tensor& t) {
  if (t.device() == device_) return t;
  h2dBytes_ += t.numel() * static_cast<int64_t>(t.element_size());
#ifdef TSN_CUDA_UPLOAD
  if (device_.is_cuda() && t.is_pinned()) {
    // Allocated and copied on the upload stream: the copy does not queue behind the step's
    // kernels, so it overlaps the previous step. The step's stream waits for it (on the GPU),
    // and the allocator keeps the memory until the step's stream is done with it. The pinned
    // source stays valid until the copy ends (the host allocator records it on that stream).
    const auto index = device_.index();
    const auto current = c10::cuda::getCurrentCUDAStream(index);
    // One stream for every upload (the pool's streams rotate, and are shared with others).
    if (!upload_) upload_ = c10::cuda::getStreamFromPool(/*isHighPriority=*/true, index).unwrap();
    const c10::cuda::CUDAStream upload(*upload_);
    torch::Tensor out;
    {
      const c10::cuda::CUDAStreamGuard onUpload(upload);
      out = t.to(device_, /*non_blocking=*/true);
    }
    at::cuda::CUDAEvent copied;
    copied.record(upload);
    copied.block(current);
    c10::cuda::CUDACachingAllocator::recordStream(out.storage().data_ptr(), current);
    return out;
  }
#endif
  return t.to(device_, /*non_blocking=*/device_.is_cuda());
}

TrainingStep::Outcome TrainingStep::run(const torch::Tensor& clips, const torch::Tensor& labels,
                                        double lr, int64_t step, PhaseClock* clock) {
  const auto mark = [&](Phase p) {
    if (clock != nullptr) clock->mark(p);
  };
  if (clock != nullptr) clock->start();
  const auto target = toDevice(labels);
  const auto input = normalize_(toDevice(clips));
  Outcome out;
  {
    AutocastScope autocast(device_, config_.precision);
    out.scores = model_->forward(input);
  }
  out.scores = out.scores.to(torch::kFloat32);  // the loss in fp32, on CPU and GPU alike
  out.loss = torch::cross_entropy_loss(out.scores, target);
  out.labels = target;
  optimizer_.zeroGrad();
  scaler_.scaleLoss(out.loss).backward();
  mark(Phase::ForwardBackward);
  if (reducer_) reducer_->finish();
  mark(Phase::ReduceWait);
  // fp16's overflow check and train.check_finite read values back (the host waits for the
  // device): the collectives the device waits for keep their deadline first.
  if (scaler_.enabled() || config_.checkFinite) comm_.settle();
  out.applied = scaler_.unscaleAndUpdate(trainable_);
  if (out.applied) {
    if (config_.checkFinite) checkFinite(out.loss, step);
    if (config_.clipGradNorm > 0) clipGradNorm(trainable_, config_.clipGradNorm);
    optimizer_.step(lr);
  }
  mark(Phase::Optimizer);
  return out;
}

torch::Tensor clipGradNorm(const std::vector<torch::Tensor>& parameters, double maxNorm) {
  torch::NoGradGuard noGrad;
  std::vector<torch::Tensor> grads;
  for (const auto& p : parameters) {
    if (p.grad().defined()) grads.push_back(p.grad());
  }
  if (grads.empty()) return torch::zeros({});
  std::vector<torch::Tensor> norms;
  norms.reserve(grads.size());
  for (const auto& g : grads) norms.push_back(g.norm(2.0).to(torch::kFloat32));
  const auto total = torch::stack(norms).norm(2.0);
  // As PyTorch: scale by max_norm / (total + 1e-6), clamped at 1 (never scaled up).
  const auto coef = torch::clamp_max(maxNorm / (total + 1e-6), 1.0);
  for (auto& g : grads) g.mul_(coef.to(g.dtype()));
  return total;
}

void TrainingStep::checkFinite(const torch::Tensor& loss, int64_t step) const {
  if (!std::isfinite(loss.item<double>())) {
    throw Error(fmt::format("step {}: loss is {} (train.check_finite)", step, loss.item<double>()));
  }
  for (const auto& p : model_->named_parameters()) {
    const auto& grad = p.value().grad();
    if (grad.defined() && !torch::isfinite(grad).all().item<bool>()) {
      throw Error(
          fmt::format("step {}: gradient of {} has NaN/Inf (train.check_finite)", step, p.key()));
    }
    if (!torch::isfinite(p.value()).all().item<bool>()) {
      throw Error(
          fmt::format("step {}: parameter {} has NaN/Inf (train.check_finite)", step, p.key()));
    }
  }
}

}  // namespace tsn
