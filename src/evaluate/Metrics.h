#pragma once
/// @file Classification metrics.

#include <torch/types.h>

#include <cstdint>

namespace tsn {

/// How many rows of `scores` [N, K] have their label among the k highest scores.
int64_t topkCorrect(const torch::Tensor& scores, const torch::Tensor& labels, int64_t k);

/// Running top-1 / top-5 / mean loss over batches.
class AccuracyMeter {
 public:
  void add(const torch::Tensor& scores, const torch::Tensor& labels, double meanLoss);
  int64_t count() const { return count_; }
  double top1() const { return count_ ? static_cast<double>(top1_) / count_ : 0.0; }
  double top5() const { return count_ ? static_cast<double>(top5_) / count_ : 0.0; }
  double loss() const { return count_ ? lossSum_ / count_ : 0.0; }

 private:
  int64_t count_ = 0;
  int64_t top1_ = 0;
  int64_t top5_ = 0;
  double lossSum_ = 0;
};

}  // namespace tsn
