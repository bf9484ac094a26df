#include "train/Evaluator.h"

#include <torch/torch.h>

#include "train/Metrics.h"

namespace tsn {

EvalResult evaluate(Tsn& model, ClipLoader& loader, const torch::Device& device, int64_t epoch) {
  const bool wasTraining = model->is_training();
  model->eval();
  torch::NoGradGuard noGrad;
  AccuracyMeter meter;
  loader.startEpoch(epoch);
  while (auto batch = loader.next()) {
    const auto labels = batch->labels.to(device);
    const auto scores = model->forward(batch->clips.to(device));
    meter.add(scores, labels, torch::cross_entropy_loss(scores, labels).item<double>());
  }
  model->train(wasTraining);
  return EvalResult{meter.top1(), meter.top5(), meter.loss(), meter.count(),
                    loader.stats().dropped};
}

}  // namespace tsn
