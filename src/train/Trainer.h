#pragma once
/// @file The training loop. Trainer::run() reads top to bottom: for each epoch, train steps
/// (LR from the schedule, forward, loss, backward, optional clipping, SGD), then validation at
/// the configured interval, then a checkpoint at the configured interval. At those fixed points
/// it tells its observers (observe/TrainingObserver.h): the TrainingReport it owns writes the
/// log lines, the metric log and TensorBoard events. With several ranks the GradientReducer
/// averages gradients during backward, validation is sharded and summed, and rank 0 writes the
/// checkpoints.
/// train.precision runs the forward pass under autocast (fp16 with loss scaling: a step whose
/// gradients overflowed is skipped); train.channels_last stores the model NHWC.
///
/// Resuming (restore()) continues exactly: the same batches in the same order from the same
/// step, LR, momentum, loss scale and random state as the run that wrote the checkpoint.

#include <torch/torch.h>

#include <atomic>
#include <memory>
#include <optional>

#include "checkpoint/Checkpoint.h"
#include "common/Stopwatch.h"
#include "config/Config.h"
#include "data/ClipLoader.h"
#include "distributed/Communicator.h"
#include "evaluate/Evaluator.h"
#include "evaluate/Metrics.h"
#include "model/Tsn.h"
#include "observe/PhaseClock.h"
#include "observe/StepTimes.h"
#include "observe/TrainingObserver.h"
#include "observe/TrainingReport.h"
#include "train/LrSchedule.h"
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

  /// Tells `observer` too what happens at the loop's fixed points (after the report). Every
  /// rank must add the same observers: some gather over ranks.
  void addObserver(TrainingObserver& observer) { observers_.push_back(&observer); }

  TrainResult run();

  /// The checkpoint of the current state (all ranks must call: gathers random states).
  Checkpoint snapshot(int64_t epoch, int64_t iter);

 private:
  enum class EpochEnd { Finished, MaxSteps, StopRequested };
  /// What a training log line summarises: the steps since the last one.
  struct Window {
    DeviceAccuracy meter;  ///< loss and accuracy, summed where the scores are
    Stopwatch time;
    int64_t steps = 0;
    PhaseTimes times;  ///< this rank's seconds per phase
    int64_t hostWaitsAtStart = 0, h2dBytesAtStart = 0;
  };
  /// A window that starts now.
  Window startWindow() const;
  /// The window's figures, read with the one wait for the device a window makes.
  WindowStats endWindow(Window& window, int64_t epoch, int64_t batchesDone, double lr);
  EpochEnd trainEpoch(int64_t epoch, int64_t firstBatch);
  /// One step on `batch`: the update, counting skipped fp16 steps, the window's metrics; tells
  /// the observers.
  void trainStep(const Batch& batch, double lr, Window& window);
  /// Validates, reports, and records the result (lastVal_) and whether it is the best so far.
  /// False when a stop request cut it short (agreed by all ranks): nothing is recorded.
  bool validate(int64_t epoch);
  bool checkpointDue(int64_t epoch) const;
  bool stopRequested();
  /// Commits a checkpoint of the state after `iter` batches of `epoch` (0-based) unless this
  /// step's is on disk already (and no new best needs recording). `validationPending`: the
  /// validation due before this point did not complete; a resumed run does it first.
  void saveCheckpoint(int64_t epoch, int64_t iter, bool validationPending = false);
  /// Calls `tell` on every observer, the report first.
  template <class Tell>
  void notify(const Tell& tell) {
    for (TrainingObserver* o : observers_) tell(*o);
  }

  const Config& config_;
  Tsn model_;
  ClipLoader& trainLoader_;
  ClipLoader& valLoader_;
  Communicator& comm_;
  torch::Device device_;
  TrainingStep trainingStep_;
  PhaseClock clock_;
  double lrScale_ = 1;
  LrSchedule schedule_;
  TrainingReport report_;
  std::vector<TrainingObserver*> observers_;
  CheckpointStore store_;
  /// What every checkpoint records about the run, fixed for its whole length: computed once.
  std::string resolvedConfig_, configHash_, trainListHash_, valListHash_;
  const std::atomic<int>* stopFlag_ = nullptr;
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
  std::filesystem::path lastCheckpoint_;
};

}  // namespace tsn
