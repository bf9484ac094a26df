#pragma once
/// @file The training run's reports: the log lines, the metric log (metrics.jsonl, rank 0) and
/// its TensorBoard events, the time by phase over the ranks and the ETA, from what the trainer
/// tells at its fixed points.

#include "config/Config.h"
#include "distributed/Communicator.h"
#include "observe/MetricLog.h"
#include "observe/StepTimes.h"
#include "observe/TrainingObserver.h"

namespace tsn {

class TrainingReport : public TrainingObserver {
 public:
  TrainingReport(const Config& config, Communicator& comm, torch::Device device,
                 int64_t stepsPerEpoch);

  void runStarted(const RunDescription& run) override;
  void windowEnded(const WindowStats& window) override;  ///< collective: gathers phase times
  void epochEnded(int64_t epoch, const LoaderStats& data) override;  ///< collective
  void validated(int64_t epoch, int64_t step, const EvalResult& result, double seconds) override;
  void validationCutShort(int64_t epoch) override;
  void checkpointed(const CheckpointEvent& event) override;
  void paused(double seconds) override { pauseS_ += seconds; }
  void runEnded(const RunEnd& end) override;

  /// Seconds left in epoch `epoch` (0-based) after `batchesDone` of its batches, and in the
  /// whole run at global step `step` (the validations still due included).
  std::pair<double, double> etaSeconds(int64_t epoch, int64_t batchesDone, int64_t step) const;

 private:
  const Config& config_;
  Communicator& comm_;
  torch::Device device_;
  int64_t stepsPerEpoch_;
  MetricLog metricLog_;
  Eta stepEta_;        ///< seconds per training step, pauses left out
  double pauseS_ = 0;  ///< validation and checkpoints since the last window
  double lastValidationS_ = 0;
};

}  // namespace tsn
