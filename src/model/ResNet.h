#pragma once
/// @file ResNet 18/34/50/101/152 with torchvision's module and parameter names
/// (conv1, bn1, layer1.0.conv1, layer1.0.downsample.0, ...), without the classifier:
/// forward() returns globally pooled features [N, featureDim()].

#include <torch/torch.h>

#include <string>

namespace tsn {

class BasicBlockImpl : public torch::nn::Module {
 public:
  static constexpr int64_t kExpansion = 1;
  BasicBlockImpl(int64_t inPlanes, int64_t planes, int64_t stride);
  torch::Tensor forward(torch::Tensor x);

 private:
  // Declared (and so registered) in torchvision's order, so state dicts list keys alike.
  torch::nn::Conv2d conv1{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr};
  torch::nn::Conv2d conv2{nullptr};
  torch::nn::BatchNorm2d bn2{nullptr};
  torch::nn::Sequential downsample{nullptr};
};
TORCH_MODULE(BasicBlock);

/// torchvision's ResNet v1.5 bottleneck: the stride sits on the 3x3 convolution.
class BottleneckImpl : public torch::nn::Module {
 public:
  static constexpr int64_t kExpansion = 4;
  BottleneckImpl(int64_t inPlanes, int64_t planes, int64_t stride);
  torch::Tensor forward(torch::Tensor x);

 private:
  torch::nn::Conv2d conv1{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr};
  torch::nn::Conv2d conv2{nullptr};
  torch::nn::BatchNorm2d bn2{nullptr};
  torch::nn::Conv2d conv3{nullptr};
  torch::nn::BatchNorm2d bn3{nullptr};
  torch::nn::Sequential downsample{nullptr};
};
TORCH_MODULE(Bottleneck);

class ResNetImpl : public torch::nn::Module {
 public:
  /// `depth` in {18, 34, 50, 101, 152}; `width` channels in the stem (64 = torchvision).
  explicit ResNetImpl(int depth, int64_t width = 64);
  torch::Tensor forward(torch::Tensor x);
  int64_t featureDim() const { return featureDim_; }

 private:
  torch::nn::Conv2d conv1{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr};
  torch::nn::Sequential layer1{nullptr}, layer2{nullptr}, layer3{nullptr}, layer4{nullptr};
  int64_t featureDim_ = 0;
};
TORCH_MODULE(ResNet);

/// Depth from a backbone name ("resnet50" -> 50); throws ConfigError for another name.
int resnetDepth(const std::string& backbone);

}  // namespace tsn
