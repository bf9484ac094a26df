#pragma once
/// @file What a training run tells at the loop's fixed points. The trainer calls every observer
/// it has there; observers turn it into log lines, metric records, TensorBoard events, ETAs, or
/// files (marian's TrainingObserver hooks).

#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include "data/ClipLoader.h"
#include "evaluate/Evaluator.h"
#include "evaluate/Metrics.h"
#include "observe/StepTimes.h"

namespace tsn {

/// How a run trains, for its first log line.
struct RunDescription {
  int64_t stepsPerEpoch = 0;
  double lr = 0;       ///< after linear scaling
  double lrScale = 1;  ///< the linear scaling factor
  int64_t trainableTensors = 0;
  std::string device;
  std::string reduction;  ///< how gradients are averaged: "one rank", or the buckets and backend
};

/// One log window on this rank: the steps since the last window.
struct WindowStats {
  int64_t epoch = 0;        ///< 0-based
  int64_t batchesDone = 0;  ///< of the epoch, this window's included
  int64_t step = 0;         ///< global steps done
  double lr = 0;            ///< of the last step
  AccuracyMeter meter;      ///< this rank's training loss and accuracy
  PhaseTimes times;         ///< this rank's seconds per phase
  double wallS = 0;         ///< the window's wall time on this rank
  int64_t steps = 0;        ///< steps in the window
  int64_t hostWaits = 0;    ///< times the host waited for the device in the window (hostWaits())
  int64_t h2dBytes = 0;     ///< bytes copied from the host to the device in the window
};

struct CheckpointEvent {
  int64_t epoch = 0, iter = 0, step = 0;
  std::filesystem::path file;
  bool best = false;
  double seconds = 0;
};

struct RunEnd {
  int64_t step = 0;
  bool stopRequested = false;
  int stopSignal = 0;
  bool maxStepsReached = false;
  const EvalResult* lastValidation = nullptr;  ///< none when no validation ran
};

class TrainingObserver {
 public:
  virtual ~TrainingObserver() = default;
  /// Before the first step; every rank.
  virtual void runStarted(const RunDescription& run) {}
  /// After each step, on every rank: the global step (1-based), the batch, its LR and this
  /// rank's mean loss (a scalar on the device: reading it makes the host wait for the device).
  virtual void stepTaken(int64_t step, const Batch& batch, double lr, const torch::Tensor& loss) {}
  /// A log window ended; every rank calls it together (an observer may gather over ranks).
  virtual void windowEnded(const WindowStats& window) {}
  /// A training epoch ended with this rank's loader figures; every rank, together.
  virtual void epochEnded(int64_t epoch, const LoaderStats& data) {}
  /// Validation after epoch `epoch` (0-based) at global step `step`; every rank.
  virtual void validated(int64_t epoch, int64_t step, const EvalResult& result, double seconds) {}
  /// A stop request cut the validation after `epoch` short; nothing of it is recorded.
  virtual void validationCutShort(int64_t epoch) {}
  /// Rank 0: a checkpoint was committed.
  virtual void checkpointed(const CheckpointEvent& event) {}
  /// Validation and checkpoints between two log windows took `seconds`; every rank.
  virtual void paused(double seconds) {}
  /// The run ended (done, stopped on request, or after train.max_steps); every rank.
  virtual void runEnded(const RunEnd& end) {}
};

}  // namespace tsn
