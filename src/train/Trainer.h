#pragma once
/// @file The training loop. Trainer::run() reads top to bottom: for each epoch, train steps
/// (LR from the schedule, forward, loss, backward, optional clipping, SGD), then validation at
/// the configured interval; logs and the metric log at clear points. With several ranks the
/// GradientReducer averages gradients during backward, and validation counts are summed.
/// train.precision runs the forward pass under autocast (fp16 with loss scaling: a step whose
/// gradients overflowed is skipped); train.channels_last stores the model NHWC.

#include <torch/torch.h>

#include <memory>

#include "config/Config.h"
#include "data/ClipLoader.h"
#include "dist/Communicator.h"
#include "dist/GradientReducer.h"
#include "model/Tsn.h"
#include "train/Evaluator.h"
#include "train/LrSchedule.h"
#include "train/MetricLog.h"
#include "train/MixedPrecision.h"

namespace tsn {

struct TrainResult {
  EvalResult lastValidation;
  int64_t steps = 0;
};

class Trainer {
 public:
  Trainer(const Config& config, Tsn model, ClipLoader& trainLoader, ClipLoader& valLoader,
          Communicator& comm, torch::Device device);

  TrainResult run();

 private:
  /// False once train.max_steps is reached.
  bool trainEpoch(int64_t epoch);
  void checkFinite(const torch::Tensor& loss) const;
  EvalResult validate(int64_t epoch);
  bool validationDue(int64_t epoch) const;

  const Config& config_;
  Tsn model_;
  ClipLoader& trainLoader_;
  ClipLoader& valLoader_;
  Communicator& comm_;
  torch::Device device_;
  std::vector<torch::Tensor> trainable_;
  std::unique_ptr<torch::optim::SGD> optimizer_;
  std::unique_ptr<GradientReducer> reducer_;  ///< only with more than one rank
  double lrScale_ = 1;
  LrSchedule schedule_;
  LossScaler scaler_;
  MetricLog metricLog_;
  int64_t step_ = 0;
};

}  // namespace tsn
