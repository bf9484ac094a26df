#include <gtest/gtest.h>
#include <torch/torch.h>

#include "train/Metrics.h"

namespace tsn {
namespace {

TEST(Metrics, TopkCountsLabelsAmongTheHighestScores) {
  const auto scores = torch::tensor({{0.1, 0.7, 0.2}, {0.5, 0.3, 0.2}, {0.2, 0.3, 0.5}});
  const auto labels = torch::tensor({1, 1, 0}, torch::kInt64);
  EXPECT_EQ(topkCorrect(scores, labels, 1), 1);  // only row 0
  EXPECT_EQ(topkCorrect(scores, labels, 2), 2);  // row 1's label is second
  EXPECT_EQ(topkCorrect(scores, labels, 3), 3);
  EXPECT_EQ(topkCorrect(scores, labels, 5), 3);  // k clamps to the class count
}

TEST(Metrics, MeterAveragesOverSamplesNotBatches) {
  AccuracyMeter m;
  m.add(torch::tensor({{1.0, 0.0}}), torch::tensor({0}, torch::kInt64), 2.0);
  m.add(torch::tensor({{1.0, 0.0}, {1.0, 0.0}, {0.0, 1.0}}),
        torch::tensor({1, 1, 1}, torch::kInt64), 1.0);
  EXPECT_EQ(m.count(), 4);
  EXPECT_DOUBLE_EQ(m.top1(), 0.5);
  EXPECT_DOUBLE_EQ(m.loss(), (2.0 + 3.0) / 4);
}

}  // namespace
}  // namespace tsn
