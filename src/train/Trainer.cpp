#include "train/Trainer.h"

#include <filesystem>

#include "common/Error.h"

#include "common/Logging.h"
#include "common/Main.h"
#include "common/Stopwatch.h"
#include "dist/ModelSync.h"
#include "train/DeviceMemory.h"
#include "train/Metrics.h"

namespace tsn {

namespace {

/// The default generator of a device (the CPU's, or a GPU's) and its state as bytes.
at::Generator generatorOf(const torch::Device& device) {
  return device.is_cuda() ? at::globalContext().defaultGenerator(device)
                          : at::detail::getDefaultCPUGenerator();
}

torch::Tensor generatorState(const torch::Device& device) {
  auto gen = generatorOf(device);
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}

void setGeneratorState(const torch::Device& device, const torch::Tensor& state) {
  auto gen = generatorOf(device);
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state.clone());
}

}  // namespace

Trainer::Trainer(const Config& config, Tsn model, ClipLoader& trainLoader, ClipLoader& valLoader,
                 Communicator& comm, torch::Device device)
    : config_(config),
      model_(std::move(model)),
      trainLoader_(trainLoader),
      valLoader_(valLoader),
      comm_(comm),
      device_(device),
      trainingStep_(config, model_, comm, device),
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
      metricLog_(comm.rank() == 0
                     ? (std::filesystem::path(config.train.workDir) / "metrics.jsonl").string()
                     : "",
                 comm.rank() == 0 && config.log.tensorboard
                     ? (std::filesystem::path(config.train.workDir) / "tensorboard").string()
                     : ""),
      store_(config.train.workDir, config.checkpoint.keepLast),
      resolvedConfig_(toToml(config)),
      configHash_(fmt::format("{:016x}", configHash(config))),
      trainListHash_(fmt::format("{:016x}", fileListHash(trainLoader.dataset().samples()))),
      valListHash_(fmt::format("{:016x}", fileListHash(valLoader.dataset().samples()))) {}

void Trainer::restore(const Checkpoint& ckpt, const std::string& source) {
  auto log = logging::get("train");
  checkCheckpointFits(ckpt, config_.model, source);
  const auto report = loadWeights(model_, ckpt.model, source);
  TSN_CHECK(report.skipped.empty(), "{}: classifier not restored", source);
  trainingStep_.optimizer().setMomentum(ckpt.momentum, source);
  trainingStep_.scaler().restore(ckpt.lossScale, ckpt.lossScaleGoodSteps);
  step_ = ckpt.step;
  lastSavedStep_ = ckpt.step;
  lastCheckpoint_ = source;
  startEpoch_ = ckpt.epoch;
  startBatch_ = ckpt.iter;
  bestTop1_ = ckpt.metrics.value("best_top1", -1.0);
  bestEpoch_ = ckpt.metrics.value("best_epoch", int64_t{0});
  validationPending_ = ckpt.metrics.value("validation_pending", false) && startEpoch_ > 0;
  if (ckpt.configHash != configHash_) {
    log->warn("{}: written with another config (see its 'config' entry); continuing with this one",
              source);
  }
  if (ckpt.worldSize == comm_.size() && ckpt.rngCpu.dim() == 2 &&
      ckpt.rngCpu.size(0) == comm_.size()) {
    setGeneratorState(torch::kCPU, ckpt.rngCpu[comm_.rank()]);
    if (device_.is_cuda() && ckpt.rngCuda.defined() && ckpt.rngCuda.size(0) == comm_.size()) {
      setGeneratorState(device_, ckpt.rngCuda[comm_.rank()]);
    }
  } else {
    // Another world: keep the position in samples; fresh random streams per rank.
    const int64_t samplesDone = ckpt.iter * config_.train.batchSize * ckpt.worldSize;
    const int64_t perStep = config_.train.batchSize * comm_.size();
    startBatch_ = (samplesDone + perStep - 1) / perStep;
    torch::manual_seed(static_cast<uint64_t>(config_.train.seed) * 7919 + comm_.rank() +
                       static_cast<uint64_t>(ckpt.step));
    log->warn(
        "{}: written by {} ranks, resumed on {}: continuing at batch {} of epoch {}; LR x{:.4g} "
        "(was x{:.4g}); random streams reseeded, so the run is not bitwise the one it continues",
        source, ckpt.worldSize, comm_.size(), startBatch_, startEpoch_ + 1, lrScale_, ckpt.lrScale);
  }
  log->info("resumed from {}: epoch {} batch {}, step {}", source, startEpoch_ + 1, startBatch_,
            step_);
}

void Trainer::setStopFlag(const std::atomic<int>* flag) {
  stopFlag_ = flag;
  trainLoader_.setStopFlag(flag);
  valLoader_.setStopFlag(flag);
}

Checkpoint Trainer::snapshot(int64_t epoch, int64_t iter) {
  Checkpoint c;
  c.rngCpu = comm_.allGather(generatorState(torch::kCPU));
  if (device_.is_cuda()) c.rngCuda = comm_.allGather(generatorState(device_));
  for (const auto& p : model_->named_parameters()) c.model.emplace(p.key(), p.value());
  for (const auto& b : model_->named_buffers()) c.model.emplace(b.key(), b.value());
  c.momentum = trainingStep_.optimizer().momentum();
  c.epoch = epoch;
  c.iter = iter;
  c.step = step_;
  c.baseLr = config_.train.lr;
  c.lrScale = lrScale_;
  c.lossScale = trainingStep_.scaler().scale();
  c.lossScaleGoodSteps = trainingStep_.scaler().goodSteps();
  c.config = resolvedConfig_;
  c.configHash = configHash_;
  c.trainListHash = trainListHash_;
  c.valListHash = valListHash_;
  c.worldSize = comm_.size();
  c.backbone = config_.model.backbone;
  c.numClasses = config_.model.numClasses;
  c.metrics = {{"best_top1", bestTop1_}, {"best_epoch", bestEpoch_}};
  if (lastVal_) {
    c.metrics["last_val"] = {{"top1", lastVal_->top1},
                             {"top5", lastVal_->top5},
                             {"loss", lastVal_->loss},
                             {"mean_class_accuracy", lastVal_->meanClassAccuracy},
                             {"videos", lastVal_->clips}};
  }
  return c;
}

void Trainer::saveCheckpoint(int64_t epoch, int64_t iter, bool validationPending) {
  if (step_ == lastSavedStep_ && !pendingBest_ && !validationPending) return;
  Stopwatch time;
  averageBuffers(*model_, comm_);
  Checkpoint c = snapshot(epoch, iter);  // collective
  if (validationPending) c.metrics["validation_pending"] = true;
  if (comm_.rank() == 0) {
    try {
      lastCheckpoint_ = store_.commit(c, pendingBest_);
    } catch (const WriteError& e) {
      // The job stops (kExitWriteFailed): training on without checkpoints would risk more
      // work than it could save. What `latest` names is whole and resumable.
      throw WriteError(fmt::format(
          "checkpoint of step {} failed: {}. {}; make room, then run again with --resume auto",
          step_, e.what(),
          lastCheckpoint_.empty()
              ? std::string("No checkpoint of this run is on disk yet")
              : fmt::format("The last checkpoint, {}, is intact", lastCheckpoint_.string())));
    }
    logging::get("train")->info("checkpoint {}{} ({:.1f}s)", lastCheckpoint_.string(),
                                pendingBest_ ? " (best so far: also best.pt)" : "", time.seconds());
    metricLog_.write({{"mode", "checkpoint"},
                      {"epoch", epoch},
                      {"iter", iter},
                      {"step", step_},
                      {"file", lastCheckpoint_.string()},
                      {"best", pendingBest_}});
  }
  pendingBest_ = false;
  lastSavedStep_ = step_;
}

bool Trainer::checkpointDue(int64_t epoch) const {
  const int64_t interval = config_.checkpoint.intervalEpochs;
  return epoch + 1 == config_.train.epochs || (interval > 0 && (epoch + 1) % interval == 0);
}

bool Trainer::stopRequested() {
  if (stopFlag_ == nullptr) return false;
  // Every rank must stop at the same step: the flag is agreed on (max over ranks).
  auto flag = torch::tensor({static_cast<int32_t>(stopFlag_->load() != 0)}, torch::kInt32);
  comm_.allReduce(flag, ReduceOp::Max);
  return flag.item<int32_t>() != 0;
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
      t.batchSize * comm_.size(), t.lr * lrScale_, lrScale_, trainingStep_.trainableCount(),
      device_.str(), toString(t.precision), t.channelsLast ? ", channels-last" : "",
      trainingStep_.reducer()
          ? fmt::format("gradients averaged over {} ranks in {} buckets ({})", comm_.size(),
                        trainingStep_.reducer()->bucketCount(), comm_.backendName())
          : std::string("one rank"));
  TrainResult result;
  const auto stopped = [&] {
    comm_.barrier();  // rank 0 has committed the checkpoint before any rank exits
    log->warn("stop requested (signal {}): checkpoint written at step {}", stopFlag_->load(),
              step_);
    result.stopRequested = true;
  };
  // A validation that a stop cut short runs first: the checkpoint said so.
  if (validationPending_ && startBatch_ == 0) {
    Stopwatch pause;
    if (!validate(startEpoch_ - 1)) {
      saveCheckpoint(startEpoch_, 0, /*validationPending=*/true);
      stopped();
    } else if (pendingBest_) {
      saveCheckpoint(startEpoch_, 0);
    }
    pauseBetweenWindowsS_ += pause.seconds();
  }
  for (int64_t epoch = startEpoch_; epoch < t.epochs && !result.stopRequested; ++epoch) {
    const EpochEnd end = trainEpoch(epoch, epoch == startEpoch_ ? startBatch_ : 0);
    if (end == EpochEnd::MaxSteps) {
      log->info("stopped after train.max_steps={} steps", t.maxSteps);
      break;
    }
    if (end == EpochEnd::StopRequested) {
      stopped();
      break;
    }
    Stopwatch pause;
    if (validationDue(epoch) && !validate(epoch)) {
      saveCheckpoint(epoch + 1, 0, /*validationPending=*/true);
      stopped();
      break;
    }
    if (checkpointDue(epoch)) saveCheckpoint(epoch + 1, 0);
    pauseBetweenWindowsS_ += pause.seconds();
  }
  if (lastVal_) result.lastValidation = *lastVal_;
  if (result.stopRequested) {
    log->warn("stopped on request; resume with --resume auto (exit code {})",
              static_cast<int>(kExitStopped));
  } else {
    log->info("done: {} steps; final validation top1 {:.4f} top5 {:.4f} on {} clips", step_,
              result.lastValidation.top1, result.lastValidation.top5, result.lastValidation.clips);
  }
  result.steps = step_;
  result.skippedSteps = skippedSteps_;
  result.lastCheckpoint = lastCheckpoint_;
  return result;
}

Trainer::EpochEnd Trainer::trainEpoch(int64_t epoch, int64_t firstBatch) {
  model_->train();
  trainLoader_.startEpoch(epoch, firstBatch);
  Window window;
  const int64_t steps = trainLoader_.batchesPerEpoch();
  for (int64_t i = firstBatch; i < steps; ++i) {
    if (config_.train.maxSteps > 0 && step_ >= config_.train.maxSteps) {
      saveCheckpoint(epoch, i);
      return EpochEnd::MaxSteps;
    }
    Stopwatch wait;
    auto batch = trainLoader_.next();  // returns early, empty, on a stop signal
    window.times[Phase::DataWait] += wait.seconds();
    // Agreed after the wait for data, which a stop signal cuts short on any rank. A rank that
    // waits here for a slower one waits for its all-reduce partner: counted as such.
    Stopwatch agree;
    const bool stop = stopRequested();
    window.times[Phase::ReduceWait] += agree.seconds();
    if (stop) {
      saveCheckpoint(epoch, i);
      return EpochEnd::StopRequested;
    }
    TSN_CHECK(batch.has_value(), "the loader ran out after {} of {} batches", i, steps);
    const double lr = schedule_.at(step_);
    trainStep(*batch, lr, window);
    if ((i + 1) % config_.train.logInterval == 0 || i + 1 == steps) {
      logWindow(epoch, i + 1, steps, lr, window);
      window = Window{};
    }
    const int64_t every = config_.checkpoint.intervalIters;
    if (every > 0 && step_ % every == 0 && i + 1 < steps) {
      Stopwatch pause;
      saveCheckpoint(epoch, i + 1);
      window.times[Phase::Pause] += pause.seconds();
    }
  }
  trainLoader_.finishEpoch();
  reportData(epoch);
  return EpochEnd::Finished;
}

void Trainer::trainStep(const Batch& batch, double lr, Window& window) {
  const auto outcome = trainingStep_.run(batch.clips, batch.labels, lr, step_ + 1, &window.times);
  ++window.steps;
  if (!outcome.applied) {
    ++skippedSteps_;
    logging::get("train")->warn(
        "step {}: fp16 gradients overflowed; step skipped, loss scale now {}", step_ + 1,
        trainingStep_.scaler().scale());
  }
  ++step_;
  const double loss = outcome.loss.item<double>();
  window.meter.add(outcome.scores, batch.labels, loss);
  if (stepObserver_) stepObserver_(step_, batch, lr, loss);
}

std::pair<double, double> Trainer::etaSeconds(int64_t epoch, int64_t batchesDone,
                                              int64_t steps) const {
  const int64_t leftInEpoch = steps - batchesDone;
  int64_t leftInRun = leftInEpoch + (config_.train.epochs - epoch - 1) * steps;
  if (config_.train.maxSteps > 0) leftInRun = std::min(leftInRun, config_.train.maxSteps - step_);
  int64_t validationsLeft = 0;
  for (int64_t e = epoch; e < config_.train.epochs; ++e) validationsLeft += validationDue(e);
  return {stepEta_.secondsFor(leftInEpoch),
          stepEta_.secondsFor(leftInRun) + static_cast<double>(validationsLeft) * lastValidationS_};
}

void Trainer::logWindow(int64_t epoch, int64_t batchesDone, int64_t steps, double lr,
                        const Window& window) {
  const auto& m = window.meter;
  // Validation and checkpoints since the last window count in this one.
  PhaseTimes times = window.times;
  times[Phase::Pause] += pauseBetweenWindowsS_;
  const double seconds = window.time.seconds() + pauseBetweenWindowsS_;
  pauseBetweenWindowsS_ = 0;
  const WindowTimes all = gatherWindowTimes(comm_, times, seconds, window.steps);  // collective
  const double trainingS = seconds - times[Phase::Pause];
  stepEta_.add(window.steps, trainingS);
  const auto [etaEpoch, etaRun] = etaSeconds(epoch, batchesDone, steps);
  const double clipsPerS = m.count() * comm_.size() / std::max(trainingS, 1e-9);
  const auto memoryMb = peakDeviceMemoryMb(device_);
  logging::get("train")->info(
      "epoch {}/{} step {}/{} lr {:.3g} loss {:.4f} top1 {:.3f} top5 {:.3f} {:.1f} clips/s{} | {} "
      "| ETA epoch {} run {}",
      epoch + 1, config_.train.epochs, batchesDone, steps, lr, m.loss(), m.top1(), m.top5(),
      clipsPerS, memoryMb ? fmt::format(" mem {:.0f} MiB", *memoryMb) : std::string(),
      all.summary(), formatDuration(etaEpoch), formatDuration(etaRun));
  nlohmann::json record = {{"mode", "train"},
                           {"epoch", epoch + 1},
                           {"iter", batchesDone},
                           {"step", step_},
                           {"lr", lr},
                           {"loss", m.loss()},
                           {"top1", m.top1()},
                           {"top5", m.top5()},
                           {"clips_per_s", clipsPerS},
                           {"data_wait_s", times[Phase::DataWait]},
                           {"window_s", seconds},
                           {"eta_epoch_s", etaEpoch},
                           {"eta_run_s", etaRun}};
  all.addTo(record);
  if (memoryMb) record["gpu_memory_peak_mb"] = *memoryMb;
  metricLog_.write(record);
}

void Trainer::reportData(int64_t epoch) {
  const LoaderStats stats = trainLoader_.stats();
  auto counts = torch::tensor({stats.loaded, stats.failed}, torch::kInt64);
  comm_.allReduce(counts, ReduceOp::Sum);
  const int64_t loaded = counts[0].item<int64_t>(), failed = counts[1].item<int64_t>();
  if (failed > 0) {
    logging::get("train")->warn("epoch {}: {} videos failed to load and were replaced (all ranks)",
                                epoch + 1, failed);
  }
  metricLog_.write({{"mode", "data"},
                    {"epoch", epoch + 1},
                    {"split", "train"},
                    {"loaded", loaded},
                    {"failed", failed},
                    {"failures_rank0", stats.failuresByReason},
                    {"data_wait_s_rank0", stats.dataWaitS}});
}

bool Trainer::validate(int64_t epoch) {
  Stopwatch time;
  averageBuffers(*model_, comm_);
  const EvalResult r = evaluate(model_, valLoader_, device_, comm_, epoch, config_.train.precision);
  if (stopRequested()) {
    logging::get("train")->warn("validation after epoch {} cut short by the stop request",
                                epoch + 1);
    return false;
  }
  lastValidationS_ = time.seconds();
  const double etaRun = epoch + 1 < config_.train.epochs
                            ? etaSeconds(epoch + 1, 0, trainLoader_.batchesPerEpoch()).second
                            : 0.0;
  logging::get("train")->info(
      "validation after epoch {}: top1 {:.4f} top5 {:.4f} mean class accuracy {:.4f} loss {:.4f} "
      "({} videos, {} unreadable, {:.1f}s) | ETA run {}",
      epoch + 1, r.top1, r.top5, r.meanClassAccuracy, r.loss, r.clips, r.dropped, lastValidationS_,
      formatDuration(etaRun));
  metricLog_.write({{"mode", "val"},
                    {"validation_s", lastValidationS_},
                    {"eta_run_s", etaRun},
                    {"epoch", epoch + 1},
                    {"step", step_},
                    {"top1", r.top1},
                    {"top5", r.top5},
                    {"mean_class_accuracy", r.meanClassAccuracy},
                    {"loss", r.loss},
                    {"clips", r.clips},
                    {"dropped", r.dropped}});
  lastVal_ = r;
  if (r.top1 > bestTop1_) {
    bestTop1_ = r.top1;
    bestEpoch_ = epoch + 1;
    pendingBest_ = true;
  }
  return true;
}

}  // namespace tsn
