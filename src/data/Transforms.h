#pragma once
/// @file Clip transforms (OpenCV). One set of random parameters per clip, applied to every frame
/// of it, so the frames of a clip stay aligned.
///
/// Output layout: a float tensor [T, 3, S, S] (frames, RGB channels, rows, columns), pixels
/// scaled to [0, 1] and then normalised per channel: (x - mean) / std.

#include <torch/types.h>
#include <opencv2/core.hpp>

#include <random>
#include <vector>

namespace tsn {

struct CropBox {
  int x = 0;
  int y = 0;
  int width = 0;
  int height = 0;
};

/// A target x target window at a uniformly random position.
CropBox randomCrop(cv::Size frame, int target, std::mt19937_64& rng);

/// The centred target x target window.
CropBox centerCrop(cv::Size frame, int target);

/// MMAction2's MultiScaleCrop: width and height each from {1, .875, .75, .66} x the short side
/// (at most one scale step apart), placed at one of 13 fixed positions; resized to target.
CropBox multiScaleCrop(cv::Size frame, std::mt19937_64& rng);

/// Crops for testing, each with its flip flag: 1 = the centre crop; 3 = three target-sized
/// squares along the longer side (start, centre, end; MMAction2's ThreeCrop); 10 = the four
/// corners and the centre, each also flipped (TenCrop).
std::vector<std::pair<CropBox, bool>> testCrops(cv::Size frame, int target, int count);

/// Crops every frame, resizes the crop to target x target if it differs, optionally flips
/// horizontally, and normalises, into `out`: a contiguous float [T, 3, target, target] (a row of
/// a batch, say). Frames are RGB CV_8UC3 of one size. One pass per step, all of them OpenCV's
/// vectorised kernels: resize (bilinear), flip, split into planes, and a multiply-add per value.
/// A uint8 `out` gets the pixels split into planes, not normalised: normalizeClips does that
/// where the batch goes (a GPU: a quarter of the bytes to copy there).
void writeClip(const std::vector<cv::Mat>& frames, const CropBox& box, bool flip, int target,
               const std::vector<double>& mean, const std::vector<double>& std, torch::Tensor out);

/// Normalises uint8 clips ([..., 3, S, S], as writeClip leaves them) on `device` as writeClip
/// would have: (x / 255 - mean) / std per channel, one multiply and one add in float (OpenCV's
/// convertTo: the same values within a rounding). Float clips pass as they are. Its factors go
/// to the device once, here.
class ClipNormalizer {
 public:
  ClipNormalizer(const std::vector<double>& mean, const std::vector<double>& std,
                 torch::Device device);
  /// `clips` on the normaliser's device.
  torch::Tensor operator()(const torch::Tensor& clips) const;

 private:
  torch::Tensor scale_, shift_;  ///< [3] float on the device
};

/// The same into a new tensor.
torch::Tensor clipToTensor(const std::vector<cv::Mat>& frames, const CropBox& box, bool flip,
                           int target, const std::vector<double>& mean,
                           const std::vector<double>& std);

}  // namespace tsn
