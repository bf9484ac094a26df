#pragma once
/// @file Which frames TSN reads from a video: pure functions of the frame count.
///
/// The video is split into `segNum` equal segments; from each, `seglen` consecutive frames.
/// Training picks a random start inside each segment, evaluation the segment centre (as
/// MMAction2's SampleFrames). Indices past the end of a short video either repeat the last
/// frame or loop back to the start (MMAction2's out_of_bound_opt).

#include <cstdint>
#include <random>
#include <vector>

#include "config/Config.h"

namespace tsn {

/// Frame indices for training, segNum * seglen of them, in segment order.
std::vector<int64_t> sampleTrainFrames(int64_t numFrames, int64_t segNum, int64_t seglen,
                                       std::mt19937_64& rng,
                                       ShortVideoMode shortVideo = ShortVideoMode::RepeatLast);

/// Frame indices for evaluation (segment centres). With numClips > 1, clip `clip` of that many
/// evenly shifted clips (the multi-clip test protocol).
std::vector<int64_t> sampleEvalFrames(int64_t numFrames, int64_t segNum, int64_t seglen,
                                      int64_t clip = 0, int64_t numClips = 1,
                                      ShortVideoMode shortVideo = ShortVideoMode::RepeatLast);

}  // namespace tsn
