// Writes a small but whole checkpoint (every field, tiny tensors) for the checkpoint fuzz
// target's seed corpus: tests/fuzz/make_seeds.sh runs it.
#include <iostream>

#include "train/Checkpoint.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: fuzz_checkpoint_seed OUT.pt\n";
    return 2;
  }
  tsn::Checkpoint c;
  c.model["backbone.conv1.weight"] = torch::arange(6, torch::kFloat32).view({2, 3, 1, 1});
  c.model["backbone.bn1.num_batches_tracked"] = torch::tensor(5, torch::kInt64);
  c.model["head.fc.weight"] = torch::ones({3, 2});
  c.model["head.fc.bias"] = torch::zeros({3});
  c.momentum["head.fc.weight"] = torch::full({3, 2}, 0.5);
  c.epoch = 1;
  c.iter = 2;
  c.step = 9;
  c.baseLr = 0.01;
  c.lrScale = 2;
  c.rngCpu = torch::arange(8, torch::kUInt8).view({1, 8});
  c.config = "[model]\nbackbone = \"resnet18\"\nnum_classes = 3\n";
  c.configHash = "0123456789abcdef";
  c.trainListHash = "fedcba9876543210";
  c.valListHash = "0000000000000001";
  c.backbone = "resnet18";
  c.numClasses = 3;
  c.metrics = {{"best_top1", 0.5}};
  tsn::writeCheckpoint(c, argv[1]);
  tsn::readCheckpoint(argv[1]);  // the seed must be one the reader accepts
  return 0;
}
