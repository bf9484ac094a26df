#include "train/Trainer.h"

#include <cmath>
#include <filesystem>

#include "common/Error.h"

#include "common/Logging.h"
#include "common/Stopwatch.h"
#include "train/Metrics.h"

namespace tsn {

Trainer::Trainer(const Config& config, Tsn model, ClipLoader& trainLoader, ClipLoader& valLoader,
                 Communicator& comm, torch::Device device)
    : config_(config),
      model_(std::move(model)),
      trainLoader_(trainLoader),
      valLoader_(valLoader),
      comm_(comm),
      device_(device),
      lrScale_(config.train.lrReferenceBatch > 0
                   ? static_cast<double>(config.train.batchSize * comm.size()) /
                         static_cast<double>(config.train.lrReferenceBatch)
                   : 1.0),
      schedule_(
          [&] {
            TrainConfig scaled = config.train;
            scaled.lr *= lrScale_;
            return scaled;
          }(),
          trainLoader.batchesPerEpoch()),
      scaler_(config.train.precision == Precision::Fp16),
      metricLog_(comm.rank() == 0
                     ? (std::filesystem::path(config.train.workDir) / "metrics.jsonl").string()
                     : "") {
  checkPrecision(config.train.precision, device);
  if (config.train.channelsLast) model_->useChannelsLast();
  for (const auto& p : model_->parameters()) {
    if (p.requires_grad()) trainable_.push_back(p);
  }
  if (comm.size() > 1) {
    reducer_ = std::make_unique<GradientReducer>(trainable_, comm, config.dist.bucketMb);
  }
  optimizer_ =
      std::make_unique<torch::optim::SGD>(trainable_, torch::optim::SGDOptions(config.train.lr)
                                                          .momentum(config.train.momentum)
                                                          .weight_decay(config.train.weightDecay));
}

bool Trainer::validationDue(int64_t epoch) const {
  const bool last = epoch + 1 == config_.train.epochs;
  const int64_t interval = config_.train.valInterval;
  return last || (interval > 0 && (epoch + 1) % interval == 0);
}

TrainResult Trainer::run() {
  auto log = logging::get("train");
  const auto& t = config_.train;
  log->info(
      "training {} epochs x {} steps; batch {} per rank x {} ranks = global batch {}; lr {} "
      "(x{:.4g} linear scaling); {} trainable tensors on {}, {}{}; {}",
      t.epochs, trainLoader_.batchesPerEpoch(), t.batchSize, comm_.size(),
      t.batchSize * comm_.size(), t.lr * lrScale_, lrScale_, trainable_.size(), device_.str(),
      toString(t.precision), t.channelsLast ? ", channels-last" : "",
      reducer_ ? fmt::format("gradients averaged over {} ranks in {} buckets ({})", comm_.size(),
                             reducer_->bucketCount(), comm_.backendName())
               : std::string("one rank"));
  TrainResult result;
  for (int64_t epoch = 0; epoch < t.epochs; ++epoch) {
    if (!trainEpoch(epoch)) {
      log->info("stopped after train.max_steps={} steps", t.maxSteps);
      break;
    }
    if (validationDue(epoch)) result.lastValidation = validate(epoch);
  }
  result.steps = step_;
  return result;
}

void Trainer::checkFinite(const torch::Tensor& loss) const {
  if (!std::isfinite(loss.item<double>())) {
    throw Error(
        fmt::format("step {}: loss is {} (train.check_finite)", step_, loss.item<double>()));
  }
  for (const auto& p : model_->named_parameters()) {
    const auto& grad = p.value().grad();
    if (grad.defined() && !torch::isfinite(grad).all().item<bool>()) {
      throw Error(
          fmt::format("step {}: gradient of {} has NaN/Inf (train.check_finite)", step_, p.key()));
    }
    if (!torch::isfinite(p.value()).all().item<bool>()) {
      throw Error(
          fmt::format("step {}: parameter {} has NaN/Inf (train.check_finite)", step_, p.key()));
    }
  }
}

bool Trainer::trainEpoch(int64_t epoch) {
  auto log = logging::get("train");
  model_->train();
  trainLoader_.startEpoch(epoch);
  AccuracyMeter window;
  Stopwatch windowTime;
  double windowWait = 0;
  const int64_t steps = trainLoader_.batchesPerEpoch();
  for (int64_t i = 0; i < steps; ++i) {
    if (config_.train.maxSteps > 0 && step_ >= config_.train.maxSteps) return false;
    Stopwatch wait;
    auto batch = trainLoader_.next();
    windowWait += wait.seconds();
    if (!batch) break;

    const double lr = schedule_.at(step_);
    for (auto& group : optimizer_->param_groups()) {
      static_cast<torch::optim::SGDOptions&>(group.options()).lr(lr);
    }
    // Pinned host batches (data.pin_memory) copy without blocking this thread.
    const bool nonBlocking = device_.is_cuda();
    const auto labels = batch->labels.to(device_, nonBlocking);
    torch::Tensor scores, loss;
    {
      AutocastScope autocast(device_, config_.train.precision);
      scores = model_->forward(batch->clips.to(device_, nonBlocking));
    }
    scores = scores.to(torch::kFloat32);  // the loss in fp32, on CPU and GPU alike
    loss = torch::cross_entropy_loss(scores, labels);
    optimizer_->zero_grad();
    scaler_.scaleLoss(loss).backward();
    if (reducer_) reducer_->finish();
    if (scaler_.unscaleAndUpdate(trainable_)) {
      if (config_.train.checkFinite) checkFinite(loss);
      if (config_.train.clipGradNorm > 0) {
        torch::nn::utils::clip_grad_norm_(trainable_, config_.train.clipGradNorm);
      }
      optimizer_->step();
    } else {
      log->warn("step {}: fp16 gradients overflowed; step skipped, loss scale now {}", step_ + 1,
                scaler_.scale());
    }
    ++step_;
    window.add(scores, labels, loss.item<double>());

    if ((i + 1) % config_.train.logInterval == 0 || i + 1 == steps) {
      const double seconds = windowTime.seconds();
      const double clipsPerS = window.count() * comm_.size() / std::max(seconds, 1e-9);
      log->info(
          "epoch {}/{} step {}/{} lr {:.3g} loss {:.4f} top1 {:.3f} top5 {:.3f} "
          "{:.1f} clips/s data wait {:.2f}s",
          epoch + 1, config_.train.epochs, i + 1, steps, lr, window.loss(), window.top1(),
          window.top5(), clipsPerS, windowWait);
      metricLog_.write({{"mode", "train"},
                        {"epoch", epoch + 1},
                        {"iter", i + 1},
                        {"step", step_},
                        {"lr", lr},
                        {"loss", window.loss()},
                        {"top1", window.top1()},
                        {"top5", window.top5()},
                        {"clips_per_s", clipsPerS},
                        {"data_wait_s", windowWait}});
      window = AccuracyMeter{};
      windowTime.reset();
      windowWait = 0;
    }
  }
  trainLoader_.finishEpoch();
  const LoaderStats stats = trainLoader_.stats();
  auto counts = torch::tensor({stats.loaded, stats.failed}, torch::kInt64);
  comm_.allReduce(counts, ReduceOp::Sum);
  const int64_t loaded = counts[0].item<int64_t>(), failed = counts[1].item<int64_t>();
  if (failed > 0) {
    log->warn("epoch {}: {} videos failed to load and were replaced (all ranks)", epoch + 1,
              failed);
  }
  metricLog_.write({{"mode", "data"},
                    {"epoch", epoch + 1},
                    {"split", "train"},
                    {"loaded", loaded},
                    {"failed", failed},
                    {"failures_rank0", stats.failuresByReason},
                    {"data_wait_s_rank0", stats.dataWaitS}});
  return true;
}

EvalResult Trainer::validate(int64_t epoch) {
  Stopwatch time;
  const EvalResult r = evaluate(model_, valLoader_, device_, comm_, epoch, config_.train.precision);
  logging::get("train")->info(
      "validation after epoch {}: top1 {:.4f} top5 {:.4f} loss {:.4f} "
      "({} clips, {} unreadable, {:.1f}s)",
      epoch + 1, r.top1, r.top5, r.loss, r.clips, r.dropped, time.seconds());
  metricLog_.write({{"mode", "val"},
                    {"epoch", epoch + 1},
                    {"step", step_},
                    {"top1", r.top1},
                    {"top5", r.top5},
                    {"loss", r.loss},
                    {"clips", r.clips},
                    {"dropped", r.dropped}});
  return r;
}

}  // namespace tsn
