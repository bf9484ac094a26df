#include <gtest/gtest.h>

#include <fstream>

#include "config/Config.h"
#include "model/Tsn.h"

namespace tsn {
namespace {

std::string shapeText(const torch::Tensor& t) {
  std::string s;
  for (const auto d : t.sizes()) s += (s.empty() ? "" : "x") + std::to_string(d);
  return s.empty() ? "scalar" : s;
}

/// Our model's backbone tensors in the reference file's format.
std::string describe(Tsn& model) {
  std::string text;
  for (const auto& item : model->named_parameters()) {
    if (item.key().rfind("backbone.", 0) == 0)
      text += "param " + item.key() + " " + shapeText(item.value()) + "\n";
  }
  for (const auto& item : model->named_buffers()) {
    if (item.key().rfind("backbone.", 0) == 0)
      text += "buffer " + item.key() + " " + shapeText(item.value()) + "\n";
  }
  return text;
}

std::string readReference(const std::string& backbone) {
  std::ifstream in(std::string(TSN_SOURCE_DIR) + "/tests/model/data/" + backbone + ".txt");
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

ModelConfig modelConfig(const std::string& backbone, int64_t classes = 400) {
  ModelConfig m;
  m.backbone = backbone;
  m.numClasses = classes;
  return m;
}

class ResNetNames : public ::testing::TestWithParam<std::string> {};

TEST_P(ResNetNames, MatchTorchvisionNamesShapesAndOrder) {
  Tsn model(modelConfig(GetParam()));
  const std::string reference = readReference(GetParam());
  ASSERT_FALSE(reference.empty()) << "no reference list for " << GetParam();
  EXPECT_EQ(describe(model), reference);
}

INSTANTIATE_TEST_SUITE_P(AllDepths, ResNetNames,
                         ::testing::Values("resnet18", "resnet34", "resnet50", "resnet101",
                                           "resnet152"));

TEST(Tsn, ClassifierIsHeadFc) {
  Tsn model(modelConfig("resnet50", 400));
  const auto params = model->named_parameters();
  ASSERT_TRUE(params.contains("head.fc.weight"));
  EXPECT_EQ(params["head.fc.weight"].sizes(), (std::vector<int64_t>{400, 2048}));
  EXPECT_EQ(params["head.fc.bias"].sizes(), (std::vector<int64_t>{400}));
  EXPECT_EQ(model->backbone->featureDim(), 2048);
}

TEST(Tsn, ParameterCountOfResNet50MatchesTorchvision) {
  // torchvision's resnet50 has 25,557,032 parameters with its 1000-way fc (2048*1000 + 1000).
  Tsn model(modelConfig("resnet50", 1000));
  int64_t count = 0;
  for (const auto& p : model->parameters()) count += p.numel();
  EXPECT_EQ(count, 25557032);
}

TEST(Tsn, AveragesFrameScoresIntoClipScores) {
  torch::manual_seed(0);
  ModelConfig m = modelConfig("resnet18", 5);
  m.width = 8;
  m.dropout = 0;
  Tsn model(m);
  model->eval();
  torch::NoGradGuard noGrad;
  const auto clips = torch::randn({2, 3, 3, 32, 32});
  const auto scores = model->forward(clips);
  ASSERT_EQ(scores.sizes(), (std::vector<int64_t>{2, 5}));
  // Consensus = mean over the frames of the per-frame classifier output.
  const auto perFrame = model->head->forward(model->backbone->forward(clips.flatten(0, 1)), 1);
  EXPECT_TRUE(torch::allclose(scores, perFrame.view({2, 3, 5}).mean(1), 1e-5, 1e-6));
}

TEST(Tsn, WidthScalesChannelsButKeepsNames) {
  ModelConfig m = modelConfig("resnet50", 10);
  m.width = 16;
  Tsn model(m);
  EXPECT_EQ(model->backbone->featureDim(), 16 * 8 * 4);
  EXPECT_EQ(model->named_parameters()["backbone.layer4.2.conv3.weight"].size(0), 512);
}

TEST(Tsn, PartialBnFreezesEveryBatchNormButTheFirst) {
  ModelConfig m = modelConfig("resnet18", 4);
  m.width = 8;
  m.partialBn = true;
  Tsn model(m);
  model->train();
  const auto params = model->named_parameters();
  EXPECT_TRUE(params["backbone.bn1.weight"].requires_grad());
  EXPECT_FALSE(params["backbone.layer1.0.bn1.weight"].requires_grad());
  EXPECT_FALSE(params["backbone.layer4.1.bn2.bias"].requires_grad());
  EXPECT_TRUE(params["backbone.layer1.0.conv1.weight"].requires_grad());

  auto buffers = model->named_buffers();
  const auto firstBefore = buffers["backbone.bn1.running_mean"].clone();
  const auto laterBefore = buffers["backbone.layer2.0.bn1.running_mean"].clone();
  model->forward(torch::randn({2, 3, 3, 32, 32}) * 3 + 1);
  EXPECT_FALSE(torch::equal(buffers["backbone.bn1.running_mean"], firstBefore));
  EXPECT_TRUE(torch::equal(buffers["backbone.layer2.0.bn1.running_mean"], laterBefore));
}

TEST(Tsn, NormEvalKeepsEveryRunningStatisticButTrainsTheAffineParameters) {
  ModelConfig m = modelConfig("resnet18", 4);
  m.width = 8;
  m.normEval = true;
  m.dropout = 0;
  Tsn model(m);
  model->train();
  EXPECT_TRUE(model->is_training());
  EXPECT_TRUE(model->named_parameters()["backbone.layer1.0.bn1.weight"].requires_grad());
  auto buffers = model->named_buffers();
  const auto first = buffers["backbone.bn1.running_mean"].clone();
  const auto later = buffers["backbone.layer2.0.bn1.running_var"].clone();
  const auto clips = torch::randn({4, 3, 3, 32, 32}) * 3 + 1;
  const auto together = model->forward(clips);
  EXPECT_TRUE(torch::equal(buffers["backbone.bn1.running_mean"], first));
  EXPECT_TRUE(torch::equal(buffers["backbone.layer2.0.bn1.running_var"], later));
  // Per-sample arithmetic: two halves give what the whole batch gives.
  const auto halves =
      torch::cat({model->forward(clips.slice(0, 0, 2)), model->forward(clips.slice(0, 2, 4))});
  EXPECT_TRUE(torch::allclose(together, halves, 1e-5, 1e-6));
}

TEST(Tsn, WithoutPartialBnEveryBatchNormTrains) {
  ModelConfig m = modelConfig("resnet18", 4);
  m.width = 8;
  Tsn model(m);
  model->train();
  auto buffers = model->named_buffers();
  const auto before = buffers["backbone.layer2.0.bn1.running_mean"].clone();
  model->forward(torch::randn({2, 3, 3, 32, 32}) * 3 + 1);
  EXPECT_FALSE(torch::equal(buffers["backbone.layer2.0.bn1.running_mean"], before));
}

}  // namespace
}  // namespace tsn
