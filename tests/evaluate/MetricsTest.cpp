#include <gtest/gtest.h>
#include <torch/torch.h>

#include "evaluate/Evaluator.h"
#include "evaluate/Metrics.h"

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

TEST(Evaluation, MetricsOfKnownVideoScores) {
  // 5 videos, 3 classes. Predicted: 0, 1, 2, 2, 0; true: 0, 1, 1, 2, 2.
  VideoScores v;
  v.ids = {0, 1, 2, 3, 4};
  v.labels = {0, 1, 1, 2, 2};
  v.scores = torch::tensor({{5.0f, 1.0f, 0.0f},
                            {0.0f, 3.0f, 1.0f},
                            {0.0f, 2.0f, 4.0f},
                            {1.0f, 0.0f, 2.0f},
                            {3.0f, 0.0f, 2.0f}});
  v.skipped = {{5, "cannot open"}};
  const EvalResult r = summarize(v);
  EXPECT_EQ(r.clips, 5);
  EXPECT_EQ(r.dropped, 1);
  EXPECT_DOUBLE_EQ(r.top1, 3.0 / 5);
  EXPECT_DOUBLE_EQ(r.top5, 1.0);  // 3 classes: every label is in the top 3
  // Per class: 1/1, 1/2, 1/2.
  EXPECT_NEAR(r.meanClassAccuracy, (1.0 + 0.5 + 0.5) / 3, 1e-12);
  EXPECT_NEAR(r.loss, torch::cross_entropy_loss(v.scores, torch::tensor(v.labels)).item<double>(),
              1e-9);
  const auto m = confusionMatrix(v);
  EXPECT_TRUE(torch::equal(m, torch::tensor({{1, 0, 0}, {0, 1, 1}, {1, 0, 1}}, torch::kInt64)));
  // Classes absent from the list do not count in the mean.
  v.labels = {0, 0, 0, 0, 0};
  EXPECT_NEAR(summarize(v).meanClassAccuracy, 2.0 / 5, 1e-12);
}

}  // namespace
}  // namespace tsn
