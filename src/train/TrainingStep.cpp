#include "train/TrainingStep.h"

#include <cmath>

#include "common/Error.h"
#include "common/Stopwatch.h"
#include "observe/DeviceMemory.h"

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
      model_(std::move(model)),
      device_(device),
      optimizer_(trainableByName(model_), config.train.momentum, config.train.weightDecay),
      scaler_(config.train.precision == Precision::Fp16) {
  checkPrecision(config.train.precision, device);
  if (config.train.channelsLast) model_->useChannelsLast();
  for (const auto& [name, p] : optimizer_.parameters()) trainable_.push_back(p);
  if (comm.size() > 1) {
    reducer_ = std::make_unique<GradientReducer>(trainable_, comm, config.dist.bucketMb,
                                                 config.dist.firstBucketMb);
  }
}

TrainingStep::Outcome TrainingStep::run(const torch::Tensor& clips, const torch::Tensor& labels,
                                        double lr, int64_t step, PhaseTimes* times) {
  Stopwatch phase;
  const auto lap = [&](Phase p) {
    if (times == nullptr) return;
    waitForDevice(device_);
    (*times)[p] += phase.seconds();
    phase.reset();
  };
  // Pinned host batches (data.pin_memory) copy without blocking this thread.
  const bool nonBlocking = device_.is_cuda();
  const auto target = labels.to(device_, nonBlocking);
  Outcome out;
  {
    AutocastScope autocast(device_, config_.precision);
    out.scores = model_->forward(clips.to(device_, nonBlocking));
  }
  out.scores = out.scores.to(torch::kFloat32);  // the loss in fp32, on CPU and GPU alike
  out.loss = torch::cross_entropy_loss(out.scores, target);
  optimizer_.zeroGrad();
  scaler_.scaleLoss(out.loss).backward();
  lap(Phase::ForwardBackward);
  if (reducer_) reducer_->finish();
  lap(Phase::ReduceWait);
  out.applied = scaler_.unscaleAndUpdate(trainable_);
  if (out.applied) {
    if (config_.checkFinite) checkFinite(out.loss, step);
    if (config_.clipGradNorm > 0) {
      torch::nn::utils::clip_grad_norm_(trainable_, config_.clipGradNorm);
    }
    optimizer_.step(lr);
  }
  lap(Phase::Optimizer);
  return out;
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
