#include "observe/TrainingReport.h"

#include "common/Logging.h"
#include "common/Main.h"
#include "common/Strings.h"
#include "observe/DeviceMemory.h"

namespace tsn {
namespace {

std::string workFile(const Config& config, Communicator& comm, const char* name, bool wanted) {
  return comm.rank() == 0 && wanted ? (std::filesystem::path(config.train.workDir) / name).string()
                                    : std::string();
}

}  // namespace

TrainingReport::TrainingReport(const Config& config, Communicator& comm, torch::Device device,
                               int64_t stepsPerEpoch)
    : config_(config),
      comm_(comm),
      device_(device),
      stepsPerEpoch_(stepsPerEpoch),
      metricLog_(workFile(config, comm, "metrics.jsonl", true),
                 workFile(config, comm, "tensorboard", config.log.tensorboard)) {}

void TrainingReport::runStarted(const RunDescription& run) {
  const auto& t = config_.train;
  logging::get("train")->info(
      "training {} epochs x {} steps; batch {} per rank x {} ranks = global batch {}; lr {} "
      "(x{:.4g} linear scaling); {} trainable tensors on {}, {}{}; {}",
      t.epochs, run.stepsPerEpoch, t.batchSize, comm_.size(), t.batchSize * comm_.size(), run.lr,
      run.lrScale, run.trainableTensors, run.device, toString(t.precision),
      t.channelsLast ? ", channels-last" : "", run.reduction);
}

std::pair<double, double> TrainingReport::etaSeconds(int64_t epoch, int64_t batchesDone,
                                                     int64_t step) const {
  const int64_t leftInEpoch = stepsPerEpoch_ - batchesDone;
  int64_t leftInRun = leftInEpoch + (config_.train.epochs - epoch - 1) * stepsPerEpoch_;
  if (config_.train.maxSteps > 0) leftInRun = std::min(leftInRun, config_.train.maxSteps - step);
  int64_t validationsLeft = 0;
  for (int64_t e = epoch; e < config_.train.epochs; ++e) {
    validationsLeft += validationDue(config_.train, e);
  }
  return {stepEta_.secondsFor(leftInEpoch),
          stepEta_.secondsFor(leftInRun) + static_cast<double>(validationsLeft) * lastValidationS_};
}

void TrainingReport::windowEnded(const WindowStats& w) {
  const auto& m = w.meter;
  // Validation and checkpoints since the last window count in this one.
  PhaseTimes times = w.times;
  times[Phase::Pause] += pauseS_;
  const double seconds = w.wallS + pauseS_;
  pauseS_ = 0;
  const WindowTimes all = gatherWindowTimes(comm_, times, seconds, w.steps);  // collective
  const double trainingS = seconds - times[Phase::Pause];
  stepEta_.add(w.steps, trainingS);
  const auto [etaEpoch, etaRun] = etaSeconds(w.epoch, w.batchesDone, w.step);
  const double clipsPerS = m.count() * comm_.size() / std::max(trainingS, 1e-9);
  const auto memoryMb = peakDeviceMemoryMb(device_);
  logging::get("train")->info(
      "epoch {}/{} step {}/{} lr {:.3g} loss {:.4f} top1 {:.3f} top5 {:.3f} {:.1f} clips/s{} | {} "
      "| ETA epoch {} run {}",
      w.epoch + 1, config_.train.epochs, w.batchesDone, stepsPerEpoch_, w.lr, m.loss(), m.top1(),
      m.top5(), clipsPerS, memoryMb ? fmt::format(" mem {:.0f} MiB", *memoryMb) : std::string(),
      all.summary(), formatDuration(etaEpoch), formatDuration(etaRun));
  nlohmann::json record = {{"mode", "train"},
                           {"epoch", w.epoch + 1},
                           {"iter", w.batchesDone},
                           {"step", w.step},
                           {"lr", w.lr},
                           {"loss", m.loss()},
                           {"top1", m.top1()},
                           {"top5", m.top5()},
                           {"clips_per_s", clipsPerS},
                           {"data_wait_s", times[Phase::DataWait]},
                           {"window_s", seconds},
                           {"eta_epoch_s", etaEpoch},
                           {"eta_run_s", etaRun}};
  all.addTo(record);
  // What a GPU is kept waiting by: the host's waits for it, and the input bytes copied to it.
  const double steps = static_cast<double>(std::max<int64_t>(w.steps, 1));
  record["host_waits_per_step"] = static_cast<double>(w.hostWaits) / steps;
  record["h2d_bytes_per_step"] = static_cast<double>(w.h2dBytes) / steps;
  if (memoryMb) record["gpu_memory_peak_mb"] = *memoryMb;
  metricLog_.write(record);
}

void TrainingReport::epochEnded(int64_t epoch, const LoaderStats& stats) {
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

void TrainingReport::validated(int64_t epoch, int64_t step, const EvalResult& r, double seconds) {
  lastValidationS_ = seconds;
  const double etaRun =
      epoch + 1 < config_.train.epochs ? etaSeconds(epoch + 1, 0, step).second : 0.0;
  logging::get("train")->info(
      "validation after epoch {}: top1 {:.4f} top5 {:.4f} mean class accuracy {:.4f} loss {:.4f} "
      "({} videos, {} unreadable, {:.1f}s) | ETA run {}",
      epoch + 1, r.top1, r.top5, r.meanClassAccuracy, r.loss, r.clips, r.dropped, seconds,
      formatDuration(etaRun));
  metricLog_.write({{"mode", "val"},
                    {"validation_s", seconds},
                    {"eta_run_s", etaRun},
                    {"epoch", epoch + 1},
                    {"step", step},
                    {"top1", r.top1},
                    {"top5", r.top5},
                    {"mean_class_accuracy", r.meanClassAccuracy},
                    {"loss", r.loss},
                    {"clips", r.clips},
                    {"dropped", r.dropped}});
}

void TrainingReport::validationCutShort(int64_t epoch) {
  logging::get("train")->warn("validation after epoch {} cut short by the stop request", epoch + 1);
}

void TrainingReport::checkpointed(const CheckpointEvent& c) {
  logging::get("train")->info("checkpoint {}{} ({:.1f}s)", c.file.string(),
                              c.best ? " (best so far: also best.pt)" : "", c.seconds);
  metricLog_.write({{"mode", "checkpoint"},
                    {"epoch", c.epoch},
                    {"iter", c.iter},
                    {"step", c.step},
                    {"file", c.file.string()},
                    {"best", c.best}});
}

void TrainingReport::runEnded(const RunEnd& end) {
  auto log = logging::get("train");
  if (end.maxStepsReached) {
    log->info("stopped after train.max_steps={} steps", config_.train.maxSteps);
  }
  if (end.stopRequested) {
    log->warn("stop requested (signal {}): checkpoint written at step {}", end.stopSignal,
              end.step);
    log->warn("stopped on request; resume with --resume auto (exit code {})",
              static_cast<int>(kExitStopped));
    return;
  }
  const EvalResult none;
  const EvalResult& v = end.lastValidation != nullptr ? *end.lastValidation : none;
  log->info("done: {} steps; final validation top1 {:.4f} top5 {:.4f} on {} clips", end.step,
            v.top1, v.top5, v.clips);
}

}  // namespace tsn
