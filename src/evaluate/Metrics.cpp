#include "evaluate/Metrics.h"

#include <torch/torch.h>

#include <algorithm>

namespace tsn {

int64_t topkCorrect(const torch::Tensor& scores, const torch::Tensor& labels, int64_t k) {
  k = std::min<int64_t>(k, scores.size(1));
  const auto top = std::get<1>(scores.topk(k, 1));
  return top.eq(labels.view({-1, 1})).any(1).sum().item<int64_t>();
}

void AccuracyMeter::add(const torch::Tensor& scores, const torch::Tensor& labels, double meanLoss) {
  const auto cpuScores = scores.detach().to(torch::kCPU);
  const auto cpuLabels = labels.to(torch::kCPU);
  const int64_t n = cpuLabels.size(0);
  top1_ += topkCorrect(cpuScores, cpuLabels, 1);
  top5_ += topkCorrect(cpuScores, cpuLabels, 5);
  lossSum_ += meanLoss * n;
  count_ += n;
}

}  // namespace tsn
