#pragma once
/// @file Temporal Segment Network: a 2D backbone on every sampled frame, dropout and a linear
/// classifier per frame, and the average of the frame scores (consensus) per clip.
///
/// State-dict names: `backbone.*` (torchvision ResNet names) and `head.fc.weight/bias`.

#include <torch/torch.h>

#include "config/Config.h"
#include "model/ResNet.h"

namespace tsn {

class TsnHeadImpl : public torch::nn::Module {
 public:
  TsnHeadImpl(int64_t inFeatures, int64_t numClasses, double dropout);
  /// features [N * T, C] -> class scores [N, K] averaged over the T frames of each clip.
  torch::Tensor forward(torch::Tensor features, int64_t framesPerClip);
  int64_t numClasses() const { return fc->options.out_features(); }

 private:
  torch::nn::Dropout dropout{nullptr};
  torch::nn::Linear fc{nullptr};
};
TORCH_MODULE(TsnHead);

class TsnImpl : public torch::nn::Module {
 public:
  explicit TsnImpl(const ModelConfig& config);

  /// clips [N, T, 3, H, W] -> class scores [N, K] (logits, before softmax).
  torch::Tensor forward(torch::Tensor clips);

  /// As Module::train, but with partial BN every BatchNorm after the first stays in eval mode,
  /// and with norm_eval every BatchNorm does.
  void train(bool on = true) override;

  /// Stores the 4-D weights channels-last (NHWC) and feeds frames to the backbone the same way:
  /// faster convolutions on GPUs with tensor cores. Call before creating the optimizer.
  void useChannelsLast();

  ResNet backbone{nullptr};
  TsnHead head{nullptr};

 private:
  bool partialBn_ = false;
  bool normEval_ = false;
  bool channelsLast_ = false;
};
TORCH_MODULE(Tsn);

}  // namespace tsn
