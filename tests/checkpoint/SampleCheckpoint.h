#pragma once
/// @file A small checkpoint with every field set, for the checkpoint tests and the checkpoint
/// fuzz target's seed (tests/fuzz/FuzzCheckpointSeed.cpp).

#include "checkpoint/Checkpoint.h"

namespace tsn {

/// Step `step` of a 2-rank resnet18 run of width 8 with 5 classes; tensors filled with `value`.
inline Checkpoint sampleCheckpoint(int64_t step, float value = 1.0f) {
  Checkpoint c;
  c.model = {{"backbone.conv1.weight", torch::full({8, 3, 7, 7}, value)},
             {"head.fc.weight", torch::full({5, 16}, value)},
             {"head.fc.bias", torch::zeros({5})}};
  c.momentum = {{"head.fc.weight", torch::full({5, 16}, value / 2)}};
  c.epoch = step / 10;
  c.iter = step % 10;
  c.step = step;
  c.baseLr = 0.01;
  c.lrScale = 2;
  c.lossScale = 1024;
  c.lossScaleGoodSteps = 7;
  c.rngCpu = torch::arange(20, torch::kUInt8).view({2, 10});
  c.config = "[model]\nbackbone = \"resnet18\"\n";
  c.configHash = "00000000000000ab";
  c.trainListHash = "1";
  c.valListHash = "2";
  c.worldSize = 2;
  c.backbone = "resnet18";
  c.numClasses = 5;
  c.metrics = {{"best_top1", 0.5}};
  return c;
}

}  // namespace tsn
