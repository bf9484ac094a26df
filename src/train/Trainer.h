#pragma once
/// @file The training loop. Trainer::run() reads top to bottom: for each epoch, train steps
/// (LR from the schedule, forward, loss, backward, optional clipping, SGD), then validation at
/// the configured interval, then a checkpoint at the configured interval; logs and the metric
/// log at clear points. With several ranks the GradientReducer averages gradients during
/// backward, validation is sharded and summed, and rank 0 writes the checkpoints.
/// train.precision runs the forward pass under autocast (fp16 with loss scaling: a step whose
/// gradients overflowed is skipped); train.channels_last stores the model NHWC.
///
/// Resuming (restore()) continues exactly: the same batches in the same order from the same
/// step, LR, momentum, loss scale and random state as the run that wrote the checkpoint.

#include <torch/torch.h>

#include <atomic>
#include <functional>
#include <memory>
#include <optional>

#include "common/Stopwatch.h"
#include "config/Config.h"
#include "data/ClipLoader.h"
#include "dist/Communicator.h"
#include "model/Tsn.h"
#include "train/Checkpoint.h"
#include "train/Evaluator.h"
#include "train/LrSchedule.h"
#include "train/MetricLog.h"
#include "train/Metrics.h"
#include "train/StepTimes.h"
#include "train/TrainingStep.h"

namespace tsn {

struct TrainResult {
  EvalResult lastValidation;
  int64_t steps = 0;
  int64_t skippedSteps = 0;    ///< fp16 steps whose gradients overflowed (no update)
  bool stopRequested = false;  ///< ended early by a stop request (a signal), checkpoint written
  std::filesystem::path lastCheckpoint;
};

class Trainer {
 public:
  Trainer(const Config& config, Tsn model, ClipLoader& trainLoader, ClipLoader& valLoader,
          Communicator& comm, torch::Device device);

  /// Continues from `ckpt` (read by every rank). Another world size is allowed with a warning:
  /// the position in the epoch is carried over in samples, the LR follows the new global batch
  /// when linear scaling is on, and random states are reseeded. Throws Error for a checkpoint
  /// of another model (naming the backbone or class count).
  void restore(const Checkpoint& ckpt, const std::string& source);

  /// When `*flag` becomes non-zero on any rank, all ranks agree at the next step, a checkpoint
  /// is written and run() returns with stopRequested. Waiting for data ends within 50 ms of
  /// it (a stuck read is abandoned); a validation in progress stops at its next batch and runs
  /// again first thing after --resume.
  void setStopFlag(const std::atomic<int>* flag);

  /// Called on every rank after each training step with the global step number (1-based), the
  /// batch, its LR and this rank's loss (tsn_dist --save-steps records them).
  using StepObserver =
      std::function<void(int64_t step, const Batch& batch, double lr, double loss)>;
  void setStepObserver(StepObserver observer) { stepObserver_ = std::move(observer); }

  TrainResult run();

  /// The checkpoint of the current state (all ranks must call: gathers random states).
  Checkpoint snapshot(int64_t epoch, int64_t iter);

 private:
  enum class EpochEnd { Finished, MaxSteps, StopRequested };
  /// What a training log line summarises: the steps since the last one.
  struct Window {
    AccuracyMeter meter;
    Stopwatch time;
    int64_t steps = 0;
    PhaseTimes times;  ///< this rank's seconds per phase
  };
  EpochEnd trainEpoch(int64_t epoch, int64_t firstBatch);
  /// One step on `batch`: the update, counting skipped fp16 steps, the window's metrics and
  /// the step observer.
  void trainStep(const Batch& batch, double lr, Window& window);
  /// A training log line and metric-log record for `window`.
  void logWindow(int64_t epoch, int64_t batchesDone, int64_t steps, double lr,
                 const Window& window);
  /// The epoch's load counts over all ranks (warning on failures) into the metric log.
  void reportData(int64_t epoch);
  /// Validates, logs, and records the result (lastVal_) and whether it is the best so far.
  /// False when a stop request cut it short (agreed by all ranks): nothing is recorded.
  bool validate(int64_t epoch);
  bool validationDue(int64_t epoch) const;
  bool checkpointDue(int64_t epoch) const;
  bool stopRequested();
  /// Commits a checkpoint of the state after `iter` batches of `epoch` (0-based) unless this
  /// step's is on disk already (and no new best needs recording). `validationPending`: the
  /// validation due before this point did not complete; a resumed run does it first.
  void saveCheckpoint(int64_t epoch, int64_t iter, bool validationPending = false);
  /// Seconds left in epoch `epoch` after `batchesDone` of its `steps`, and in the whole run
  /// (the validations still due included).
  std::pair<double, double> etaSeconds(int64_t epoch, int64_t batchesDone, int64_t steps) const;

  const Config& config_;
  Tsn model_;
  ClipLoader& trainLoader_;
  ClipLoader& valLoader_;
  Communicator& comm_;
  torch::Device device_;
  TrainingStep trainingStep_;
  double lrScale_ = 1;
  LrSchedule schedule_;
  MetricLog metricLog_;
  CheckpointStore store_;
  /// What every checkpoint records about the run, fixed for its whole length: computed once.
  std::string resolvedConfig_, configHash_, trainListHash_, valListHash_;
  const std::atomic<int>* stopFlag_ = nullptr;
  StepObserver stepObserver_;
  int64_t step_ = 0;
  int64_t skippedSteps_ = 0;
  int64_t startEpoch_ = 0;
  int64_t startBatch_ = 0;
  int64_t lastSavedStep_ = -1;
  double bestTop1_ = -1;
  int64_t bestEpoch_ = 0;
  bool pendingBest_ = false;
  bool validationPending_ = false;  ///< restored: the last epoch's validation is still due
  std::optional<EvalResult> lastVal_;
  /// Validation and checkpoint time between two log windows, counted in the next one.
  double pauseBetweenWindowsS_ = 0;
  double lastValidationS_ = 0;
  Eta stepEta_;  ///< seconds per training step, pauses left out
  std::filesystem::path lastCheckpoint_;
};

}  // namespace tsn
