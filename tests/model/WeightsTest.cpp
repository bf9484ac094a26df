#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/Error.h"
#include "model/Weights.h"
#include "support/TestSupport.h"

namespace tsn {
namespace {

using ::testing::HasSubstr;

/// Runs a Python snippet with Debian's python3-torch/torchvision.
void python(const std::string& code) {
  const auto r = testing::run("/usr/bin/python3 -c '" + code + "'");
  ASSERT_EQ(r.exitCode, 0) << r.output;
}

TEST(Weights, TorchvisionResNetLoadsAndComputesTheSameFeatures) {
  testing::TempDir dir("weights_torchvision");
  const auto weights = (dir.path() / "r18.pt").string();
  const auto io = (dir.path() / "io.pt").string();
  // torchvision's ResNet-18 (random init, BN statistics made non-trivial), its weights, and its
  // pooled features for one input.
  python(fmt::format(
      "import torch, torchvision\n"
      "torch.manual_seed(0)\n"
      "m = torchvision.models.resnet18()\n"
      "for mod in m.modules():\n"
      "    if isinstance(mod, torch.nn.BatchNorm2d):\n"
      "        mod.running_mean.uniform_(-0.1, 0.1); mod.running_var.uniform_(0.5, 1.5)\n"
      "m.eval()\n"
      "torch.save(dict(m.state_dict()), \"{}\")\n"
      "x = torch.randn(2, 3, 64, 64)\n"
      "m.fc = torch.nn.Identity()\n"
      "torch.save({{\"x\": x, \"features\": m(x).detach()}}, \"{}\")\n",
      weights, io));

  ModelConfig config;
  config.backbone = "resnet18";
  config.numClasses = 7;
  Tsn model(config);
  const LoadReport report = loadWeights(model, readStateDict(weights), weights);
  EXPECT_EQ(report.loaded, 120);  // every backbone tensor (tests/model/data/resnet18.txt)
  EXPECT_EQ(report.skipped, (std::vector<std::string>{"head.fc.weight", "head.fc.bias"}));

  const StateDict expected = readStateDict(io);
  model->eval();
  torch::NoGradGuard noGrad;
  const auto features = model->backbone->forward(expected.at("x"));
  EXPECT_TRUE(torch::allclose(features, expected.at("features"), 1e-4, 1e-5))
      << (features - expected.at("features")).abs().max();
}

TEST(Weights, OurOwnNamesRoundTripIncludingTheHead) {
  testing::TempDir dir("weights_ours");
  ModelConfig config;
  config.backbone = "resnet18";
  config.width = 8;
  config.numClasses = 3;
  torch::manual_seed(1);
  Tsn source(config);
  StateDict dict;
  for (const auto& p : source->named_parameters()) dict[p.key()] = p.value().detach().clone();
  for (const auto& b : source->named_buffers()) dict[b.key()] = b.value().clone();
  torch::manual_seed(2);
  Tsn target(config);
  const auto report = loadWeights(target, dict, "memory");
  EXPECT_TRUE(report.skipped.empty());
  EXPECT_TRUE(torch::equal(target->named_parameters()["head.fc.weight"],
                           source->named_parameters()["head.fc.weight"]));
}

TEST(Weights, AnotherBackboneIsRefusedNamingTheKey) {
  testing::TempDir dir("weights_wrong");
  const auto weights = (dir.path() / "r34.pt").string();
  python(
      "import torch, torchvision\ntorch.save(dict(torchvision.models.resnet34().state_dict()), \"" +
      weights + "\")\n");
  ModelConfig r18;
  r18.backbone = "resnet18";
  Tsn model(r18);
  EXPECT_THAT([&] { loadWeights(model, readStateDict(weights), weights); },
              ::testing::ThrowsMessage<ConfigError>(HasSubstr("tensors the model does not have")));
  ModelConfig r50;
  r50.backbone = "resnet50";
  Tsn bigger(r50);
  EXPECT_THAT([&] { loadWeights(bigger, readStateDict(weights), weights); },
              ::testing::ThrowsMessage<ConfigError>(HasSubstr(weights)));
}

TEST(Weights, UnreadableFilesGiveOneClearError) {
  testing::TempDir dir("weights_bad");
  const auto text = dir.path() / "notes.pt";
  testing::writeFile(text, "not a checkpoint");
  EXPECT_THAT([&] { readStateDict(text.string()); },
              ::testing::ThrowsMessage<ConfigError>(HasSubstr("not a torch.save file")));
  EXPECT_THAT([&] { readStateDict((dir.path() / "missing.pt").string()); },
              ::testing::ThrowsMessage<ConfigError>(HasSubstr("cannot open weights file")));
}

}  // namespace
}  // namespace tsn
