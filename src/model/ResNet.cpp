#include "model/ResNet.h"

#include "common/Error.h"

namespace tsn {
namespace {

namespace nn = torch::nn;

nn::Conv2d conv(int64_t in, int64_t out, int64_t kernel, int64_t stride) {
  return nn::Conv2d(
      nn::Conv2dOptions(in, out, kernel).stride(stride).padding(kernel / 2).bias(false));
}

nn::Sequential makeDownsample(int64_t in, int64_t out, int64_t stride) {
  if (stride == 1 && in == out) return nullptr;
  return nn::Sequential(conv(in, out, 1, stride), nn::BatchNorm2d(out));
}

template <class Block>
nn::Sequential makeLayer(int64_t& inPlanes, int64_t planes, int64_t blocks, int64_t stride) {
  nn::Sequential layer;
  layer->push_back(Block(inPlanes, planes, stride));
  inPlanes = planes * Block::Impl::kExpansion;
  for (int64_t i = 1; i < blocks; ++i) layer->push_back(Block(inPlanes, planes, 1));
  return layer;
}

}  // namespace

BasicBlockImpl::BasicBlockImpl(int64_t inPlanes, int64_t planes, int64_t stride)
    : conv1(register_module("conv1", conv(inPlanes, planes, 3, stride))),
      bn1(register_module("bn1", nn::BatchNorm2d(planes))),
      conv2(register_module("conv2", conv(planes, planes, 3, 1))),
      bn2(register_module("bn2", nn::BatchNorm2d(planes))) {
  if (auto d = makeDownsample(inPlanes, planes * kExpansion, stride)) {
    downsample = register_module("downsample", d);
  }
}

torch::Tensor BasicBlockImpl::forward(torch::Tensor x) {
  auto out = torch::relu(bn1(conv1(x)));
  out = bn2(conv2(out));
  return torch::relu(out + (downsample ? downsample->forward(x) : x));
}

BottleneckImpl::BottleneckImpl(int64_t inPlanes, int64_t planes, int64_t stride)
    : conv1(register_module("conv1", conv(inPlanes, planes, 1, 1))),
      bn1(register_module("bn1", nn::BatchNorm2d(planes))),
      conv2(register_module("conv2", conv(planes, planes, 3, stride))),
      bn2(register_module("bn2", nn::BatchNorm2d(planes))),
      conv3(register_module("conv3", conv(planes, planes * kExpansion, 1, 1))),
      bn3(register_module("bn3", nn::BatchNorm2d(planes * kExpansion))) {
  if (auto d = makeDownsample(inPlanes, planes * kExpansion, stride)) {
    downsample = register_module("downsample", d);
  }
}

torch::Tensor BottleneckImpl::forward(torch::Tensor x) {
  auto out = torch::relu(bn1(conv1(x)));
  out = torch::relu(bn2(conv2(out)));
  out = bn3(conv3(out));
  return torch::relu(out + (downsample ? downsample->forward(x) : x));
}

int resnetDepth(const std::string& backbone) {
  for (const int depth : {18, 34, 50, 101, 152}) {
    if (backbone == "resnet" + std::to_string(depth)) return depth;
  }
  throw ConfigError(fmt::format("model.backbone: unknown backbone \"{}\"", backbone));
}

ResNetImpl::ResNetImpl(int depth, int64_t width) {
  struct Spec {
    int depth;
    bool bottleneck;
    std::array<int64_t, 4> blocks;
  };
  static const Spec kSpecs[] = {{18, false, {2, 2, 2, 2}},
                                {34, false, {3, 4, 6, 3}},
                                {50, true, {3, 4, 6, 3}},
                                {101, true, {3, 4, 23, 3}},
                                {152, true, {3, 8, 36, 3}}};
  const Spec* spec = nullptr;
  for (const auto& s : kSpecs) {
    if (s.depth == depth) spec = &s;
  }
  TSN_CHECK(spec != nullptr, "no ResNet of depth {}", depth);

  conv1 = register_module(
      "conv1", nn::Conv2d(nn::Conv2dOptions(3, width, 7).stride(2).padding(3).bias(false)));
  bn1 = register_module("bn1", nn::BatchNorm2d(width));
  int64_t inPlanes = width;
  nn::Sequential* layers[] = {&layer1, &layer2, &layer3, &layer4};
  for (int i = 0; i < 4; ++i) {
    const int64_t planes = width << i;
    const int64_t stride = i == 0 ? 1 : 2;
    *layers[i] = spec->bottleneck
                     ? makeLayer<Bottleneck>(inPlanes, planes, spec->blocks[i], stride)
                     : makeLayer<BasicBlock>(inPlanes, planes, spec->blocks[i], stride);
    register_module("layer" + std::to_string(i + 1), *layers[i]);
  }
  featureDim_ = inPlanes;

  // torchvision's initialisation.
  for (auto& module : modules(/*include_self=*/false)) {
    if (auto* c = module->as<nn::Conv2d>()) {
      nn::init::kaiming_normal_(c->weight, 0.0, torch::kFanOut, torch::kReLU);
    } else if (auto* b = module->as<nn::BatchNorm2d>()) {
      nn::init::ones_(b->weight);
      nn::init::zeros_(b->bias);
    }
  }
}

torch::Tensor ResNetImpl::forward(torch::Tensor x) {
  x = torch::relu(bn1(conv1(x)));
  x = torch::max_pool2d(x, 3, 2, 1);
  x = layer4->forward(layer3->forward(layer2->forward(layer1->forward(x))));
  return torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
}

}  // namespace tsn
