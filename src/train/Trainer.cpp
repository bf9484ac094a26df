#include "train/Trainer.h"

#include <filesystem>

#include "common/Error.h"
#include "common/Logging.h"
#include "common/Stopwatch.h"
#include "distributed/ModelSync.h"
#include "observe/DeviceMemory.h"
#include "train/RunSetup.h"

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

/// This rank's own floating-point buffers (its row of the checkpoint's rank_buffers), over the
/// mean that loadWeights put there.
void restoreRankBuffers(torch::nn::Module& model, const StateDict& rankBuffers, int rank,
                        const std::string& source) {
  torch::NoGradGuard noGrad;
  for (auto& b : model.named_buffers()) {
    const auto own = rankBuffers.find(b.key());
    if (own == rankBuffers.end()) continue;
    const auto row = own->second[rank];
    TSN_CHECK(row.sizes() == b.value().sizes(), "{}: rank_buffers.{} has another shape", source,
              b.key());
    b.value().copy_(row);
  }
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
      clock_(device),
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
      report_(config, comm, device, trainLoader.batchesPerEpoch()),
      observers_{&report_},
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
    restoreRankBuffers(*model_, ckpt.rankBuffers, comm_.rank(), source);
    if (device_.is_cuda() && ckpt.rngCuda.defined() && ckpt.rngCuda.size(0) == comm_.size()) {
      setGeneratorState(device_, ckpt.rngCuda[comm_.rank()]);
    }
  } else {
    // Another world: keep the position in samples; fresh random streams per rank.
    const int64_t samplesDone = ckpt.iter * config_.train.batchSize * ckpt.worldSize;
    const int64_t perStep = config_.train.batchSize * comm_.size();
    startBatch_ = (samplesDone + perStep - 1) / perStep;
    seedRankStreams(config_.train.seed, comm_.rank(), ckpt.step);
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
  // The model holds the mean of every rank's statistics; each rank's own stay beside them, and
  // the running model is left as it is (a checkpoint never changes the run it records).
  if (comm_.size() > 1) c.rankBuffers = gatherBuffers(*model_, comm_);  // collective
  for (const auto& b : model_->named_buffers()) {
    const auto own = c.rankBuffers.find(b.key());
    c.model.emplace(b.key(), own == c.rankBuffers.end()
                                 ? b.value()
                                 : own->second.to(torch::kFloat64).mean(0).to(b.value().dtype()));
  }
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
  comm_.settle();  // what the device still waits for, with its deadline, before reading it back
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
    const CheckpointEvent event{epoch, iter, step_, lastCheckpoint_, pendingBest_, time.seconds()};
    notify([&](TrainingObserver& o) { o.checkpointed(event); });
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

TrainResult Trainer::run() {
  const auto& t = config_.train;
  const RunDescription description{
      trainLoader_.batchesPerEpoch(),
      t.lr * lrScale_,
      lrScale_,
      static_cast<int64_t>(trainingStep_.trainable().size()),
      device_.str(),
      trainingStep_.reducer()
          ? fmt::format("gradients averaged over {} ranks in {} buckets ({})", comm_.size(),
                        trainingStep_.reducer()->bucketCount(), comm_.backendName())
          : std::string("one rank")};
  notify([&](TrainingObserver& o) { o.runStarted(description); });
  RunEnd end;
  const auto stopped = [&] {
    comm_.barrier();  // rank 0 has committed the checkpoint before any rank exits
    end.stopRequested = true;
    end.stopSignal = stopFlag_->load();
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
    notify([&](TrainingObserver& o) { o.paused(pause.seconds()); });
  }
  for (int64_t epoch = startEpoch_; epoch < t.epochs && !end.stopRequested; ++epoch) {
    const EpochEnd epochEnd = trainEpoch(epoch, epoch == startEpoch_ ? startBatch_ : 0);
    if (epochEnd == EpochEnd::MaxSteps) {
      end.maxStepsReached = true;
      break;
    }
    if (epochEnd == EpochEnd::StopRequested) {
      stopped();
      break;
    }
    Stopwatch pause;
    if (validationDue(t, epoch) && !validate(epoch)) {
      saveCheckpoint(epoch + 1, 0, /*validationPending=*/true);
      stopped();
      break;
    }
    if (checkpointDue(epoch)) saveCheckpoint(epoch + 1, 0);
    notify([&](TrainingObserver& o) { o.paused(pause.seconds()); });
  }
  TrainResult result;
  if (lastVal_) result.lastValidation = *lastVal_;
  end.step = step_;
  end.lastValidation = lastVal_ ? &result.lastValidation : nullptr;
  notify([&](TrainingObserver& o) { o.runEnded(end); });
  result.stopRequested = end.stopRequested;
  result.steps = step_;
  result.skippedSteps = skippedSteps_;
  result.lastCheckpoint = lastCheckpoint_;
  return result;
}

Trainer::EpochEnd Trainer::trainEpoch(int64_t epoch, int64_t firstBatch) {
  model_->train();
  trainLoader_.startEpoch(epoch, firstBatch);
  Window window = startWindow();
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
      const WindowStats stats = endWindow(window, epoch, i + 1, lr);
      notify([&](TrainingObserver& o) { o.windowEnded(stats); });  // collective
      window = startWindow();
    }
    const int64_t every = config_.checkpoint.intervalIters;
    if (every > 0 && step_ % every == 0 && i + 1 < steps) {
      Stopwatch pause;
      saveCheckpoint(epoch, i + 1);
      window.times[Phase::Pause] += pause.seconds();
    }
  }
  trainLoader_.finishEpoch();
  const LoaderStats data = trainLoader_.stats();
  notify([&](TrainingObserver& o) { o.epochEnded(epoch, data); });  // collective
  return EpochEnd::Finished;
}

void Trainer::trainStep(const Batch& batch, double lr, Window& window) {
  const auto outcome = trainingStep_.run(batch.clips, batch.labels, lr, step_ + 1, &clock_);
  ++window.steps;
  if (!outcome.applied) {
    ++skippedSteps_;
    logging::get("train")->warn(
        "step {}: fp16 gradients overflowed; step skipped, loss scale now {}", step_ + 1,
        trainingStep_.scaler().scale());
  }
  ++step_;
  // Loss and accuracy stay on the device until the window ends: nothing here waits for it.
  window.meter.add(outcome.scores, outcome.labels, outcome.loss);
  notify([&](TrainingObserver& o) { o.stepTaken(step_, batch, lr, outcome.loss); });
}

Trainer::Window Trainer::startWindow() const {
  Window w;
  w.hostWaitsAtStart = hostWaits();
  w.h2dBytesAtStart = trainingStep_.hostToDeviceBytes();
  return w;
}

WindowStats Trainer::endWindow(Window& window, int64_t epoch, int64_t batchesDone, double lr) {
  window.meter.startRead();
  // The collectives the device was left to wait for (GradientReducer) keep their deadline here;
  // then the one wait for the device, after which the events and the copied sums are valid.
  comm_.settle();
  clock_.collect(window.times);
  WindowStats stats;
  stats.epoch = epoch;
  stats.batchesDone = batchesDone;
  stats.step = step_;
  stats.lr = lr;
  stats.meter = window.meter.result();
  stats.times = window.times;
  stats.wallS = window.time.seconds();
  stats.steps = window.steps;
  stats.hostWaits = hostWaits() - window.hostWaitsAtStart;
  stats.h2dBytes = trainingStep_.hostToDeviceBytes() - window.h2dBytesAtStart;
  return stats;
}

bool Trainer::validate(int64_t epoch) {
  Stopwatch time;
  averageBuffers(*model_, comm_);
  const EvalResult r = evaluate(model_, valLoader_, device_, comm_, epoch, config_.train.precision);
  if (stopRequested()) {
    notify([&](TrainingObserver& o) { o.validationCutShort(epoch); });
    return false;
  }
  const double seconds = time.seconds();
  notify([&](TrainingObserver& o) { o.validated(epoch, step_, r, seconds); });
  lastVal_ = r;
  if (r.top1 > bestTop1_) {
    bestTop1_ = r.top1;
    bestEpoch_ = epoch + 1;
    pendingBest_ = true;
  }
  return true;
}

}  // namespace tsn
