#include "model/Tsn.h"

namespace tsn {

TsnHeadImpl::TsnHeadImpl(int64_t inFeatures, int64_t numClasses, double dropoutRate)
    : dropout(register_module("dropout", torch::nn::Dropout(dropoutRate))),
      fc(register_module("fc", torch::nn::Linear(inFeatures, numClasses))) {
  // TSN/MMAction2 initialise the classifier with N(0, 0.01) and zero bias.
  torch::nn::init::normal_(fc->weight, 0.0, 0.01);
  torch::nn::init::zeros_(fc->bias);
}

torch::Tensor TsnHeadImpl::forward(torch::Tensor features, int64_t framesPerClip) {
  auto scores = fc(dropout(features));
  return scores.view({-1, framesPerClip, scores.size(1)}).mean(1);
}

TsnImpl::TsnImpl(const ModelConfig& config)
    : partialBn_(config.partialBn), normEval_(config.normEval) {
  backbone = register_module("backbone", ResNet(resnetDepth(config.backbone), config.width));
  head =
      register_module("head", TsnHead(backbone->featureDim(), config.numClasses, config.dropout));
  if (partialBn_) {
    // TSN's partial BN: only the first BatchNorm adapts; the others keep their statistics and
    // affine parameters (as MMAction2's partial_bn).
    bool first = true;
    for (auto& module : backbone->modules(false)) {
      if (auto* bn = module->as<torch::nn::BatchNorm2d>()) {
        if (!first) {
          bn->weight.set_requires_grad(false);
          bn->bias.set_requires_grad(false);
        }
        first = false;
      }
    }
  }
}

torch::Tensor TsnImpl::forward(torch::Tensor clips) {
  const int64_t frames = clips.size(1);
  auto frames2d = clips.flatten(0, 1);
  if (channelsLast_) frames2d = frames2d.contiguous(torch::MemoryFormat::ChannelsLast);
  auto features = backbone->forward(frames2d);
  return head->forward(features, frames);
}

void TsnImpl::useChannelsLast() {
  torch::NoGradGuard noGrad;
  for (auto& p : parameters()) {
    if (p.dim() == 4) p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
  }
  channelsLast_ = true;
}

void TsnImpl::train(bool on) {
  torch::nn::Module::train(on);
  if (on && (partialBn_ || normEval_)) {
    bool first = true;
    for (auto& module : backbone->modules(false)) {
      if (auto* bn = module->as<torch::nn::BatchNorm2d>()) {
        if (normEval_ || !first) bn->eval();
        first = false;
      }
    }
  }
}

}  // namespace tsn
