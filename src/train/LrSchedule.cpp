#include "train/LrSchedule.h"

#include <cmath>

#include "common/Error.h"

namespace tsn {

LrSchedule::LrSchedule(const TrainConfig& train, int64_t itersPerEpoch)
    : train_(train),
      itersPerEpoch_(itersPerEpoch),
      warmupIters_(static_cast<int64_t>(std::llround(train.warmupEpochs * itersPerEpoch))) {
  TSN_CHECK(itersPerEpoch > 0, "an epoch needs at least one step");
}

double LrSchedule::at(int64_t iter) const {
  const int64_t epoch = iter / itersPerEpoch_;
  double lr = train_.lr;
  for (const int64_t decayEpoch : train_.lrDecayEpochs) {
    if (epoch >= decayEpoch) lr *= train_.lrDecay;
  }
  if (iter < warmupIters_) lr *= static_cast<double>(iter + 1) / static_cast<double>(warmupIters_);
  return lr;
}

}  // namespace tsn
