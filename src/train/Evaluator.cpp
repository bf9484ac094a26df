#include "train/Evaluator.h"

#include <torch/torch.h>

#include <cmath>

#include "train/Metrics.h"

namespace tsn {

EvalResult evaluate(Tsn& model, ClipLoader& loader, const torch::Device& device, Communicator& comm,
                    int64_t epoch, Precision precision) {
  const bool wasTraining = model->is_training();
  model->eval();
  torch::NoGradGuard noGrad;
  AccuracyMeter meter;
  loader.startEpoch(epoch);
  while (auto batch = loader.next()) {
    const bool nonBlocking = device.is_cuda();
    const auto labels = batch->labels.to(device, nonBlocking);
    torch::Tensor scores;
    {
      AutocastScope autocast(device, precision);
      scores = model->forward(batch->clips.to(device, nonBlocking)).to(torch::kFloat32);
    }
    meter.add(scores, labels, torch::cross_entropy_loss(scores, labels).item<double>());
  }
  model->train(wasTraining);
  // Shards hold whole videos, none twice: summing the counts gives the exact totals.
  auto sums = torch::tensor(
      {meter.top1() * meter.count(), meter.top5() * meter.count(), meter.loss() * meter.count(),
       static_cast<double>(meter.count()), static_cast<double>(loader.stats().dropped)},
      torch::kFloat64);
  comm.allReduce(sums, ReduceOp::Sum);
  const auto* s = sums.data_ptr<double>();
  const double n = std::max(s[3], 1.0);
  return EvalResult{s[0] / n, s[1] / n, s[2] / n, static_cast<int64_t>(std::llround(s[3])),
                    static_cast<int64_t>(std::llround(s[4]))};
}

}  // namespace tsn
