#include "evaluate/Metrics.h"

#include <torch/torch.h>

#include <algorithm>

namespace tsn {

torch::Tensor topkHits(const torch::Tensor& scores, const torch::Tensor& labels, int64_t k) {
  k = std::min<int64_t>(k, scores.size(1));
  const auto top = std::get<1>(scores.topk(k, 1));
  return top.eq(labels.view({-1, 1})).any(1).sum();
}

int64_t topkCorrect(const torch::Tensor& scores, const torch::Tensor& labels, int64_t k) {
  return topkHits(scores, labels, k).item<int64_t>();
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

void AccuracyMeter::addSums(int64_t n, int64_t top1, int64_t top5, double lossSum) {
  count_ += n;
  top1_ += top1;
  top5_ += top5;
  lossSum_ += lossSum;
}

void DeviceAccuracy::add(const torch::Tensor& scores, const torch::Tensor& labels,
                         const torch::Tensor& meanLoss) {
  torch::NoGradGuard noGrad;
  const auto s = scores.detach();
  const int64_t n = labels.size(0);
  const auto step = torch::stack({topkHits(s, labels, 1).to(torch::kFloat64),
                                  topkHits(s, labels, 5).to(torch::kFloat64),
                                  meanLoss.detach().to(torch::kFloat64) * static_cast<double>(n)});
  if (sums_.defined()) {
    sums_.add_(step);
  } else {
    sums_ = step;
  }
  count_ += n;
}

void DeviceAccuracy::startRead() {
  if (!sums_.defined()) return;
  if (!sums_.is_cuda()) {
    host_ = sums_;
    return;
  }
  host_ = torch::empty({3}, torch::TensorOptions().dtype(torch::kFloat64).pinned_memory(true));
  host_.copy_(sums_, /*non_blocking=*/true);
}

AccuracyMeter DeviceAccuracy::result() const {
  AccuracyMeter m;
  if (!host_.defined()) return m;
  const auto* v = host_.data_ptr<double>();
  m.addSums(count_, static_cast<int64_t>(v[0]), static_cast<int64_t>(v[1]), v[2]);
  return m;
}

}  // namespace tsn
