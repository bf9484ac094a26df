#pragma once
/// @file Learning rate per step: step decay at configured epochs, optional linear warmup.

#include <cstdint>

#include "config/Config.h"

namespace tsn {

class LrSchedule {
 public:
  LrSchedule(const TrainConfig& train, int64_t itersPerEpoch);

  /// LR for global step `iter` (0-based). Decay: lr * lr_decay^k where k counts the
  /// lr_decay_epochs already reached. Warmup: the first warmup_epochs * itersPerEpoch steps
  /// rise linearly to that value, (iter + 1) / warmupIters of it.
  double at(int64_t iter) const;

 private:
  TrainConfig train_;
  int64_t itersPerEpoch_;
  int64_t warmupIters_;
};

}  // namespace tsn
