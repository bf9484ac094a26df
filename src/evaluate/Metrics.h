#pragma once
/// @file Classification metrics.

#include <torch/types.h>

#include <cstdint>

namespace tsn {

/// How many rows of `scores` [N, K] have their label among the k highest scores: a 0-dim
/// tensor where the scores are (the host does not wait), or read back.
torch::Tensor topkHits(const torch::Tensor& scores, const torch::Tensor& labels, int64_t k);
int64_t topkCorrect(const torch::Tensor& scores, const torch::Tensor& labels, int64_t k);

/// Running top-1 / top-5 / mean loss over batches.
class AccuracyMeter {
 public:
  void add(const torch::Tensor& scores, const torch::Tensor& labels, double meanLoss);
  /// Sums gathered elsewhere (DeviceAccuracy): `n` samples, their top-1 and top-5 hits and
  /// their loss summed.
  void addSums(int64_t n, int64_t top1, int64_t top5, double lossSum);
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

/// AccuracyMeter's sums kept where the scores are: add() only queues a few kernels (on a GPU
/// the host does not wait), and the sums are copied to the host once (startRead, then result
/// after the next wait for the device).
class DeviceAccuracy {
 public:
  /// `scores` [N, K] and `labels` [N] on one device, `meanLoss` a scalar there.
  void add(const torch::Tensor& scores, const torch::Tensor& labels, const torch::Tensor& meanLoss);
  /// Queues the copy of the sums to the host (pinned memory, not waiting, on a GPU).
  void startRead();
  /// The sums startRead copied, once the device has been waited for since.
  AccuracyMeter result() const;

 private:
  torch::Tensor sums_;  ///< float64 [3]: top-1 hits, top-5 hits, loss x samples
  torch::Tensor host_;
  int64_t count_ = 0;
};

}  // namespace tsn
