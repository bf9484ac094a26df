#include "data/Transforms.h"

#include <torch/torch.h>
#include <opencv2/imgproc.hpp>

#include "common/Error.h"
#include "common/StageClock.h"
#include "video/FrameSource.h"

namespace tsn {

CropBox randomCrop(cv::Size frame, int target, std::mt19937_64& rng) {
  TSN_CHECK(frame.width >= target && frame.height >= target, "frame {}x{} smaller than crop {}",
            frame.width, frame.height, target);
  std::uniform_int_distribution<int> x(0, frame.width - target);
  std::uniform_int_distribution<int> y(0, frame.height - target);
  const int left = x(rng);
  return {left, y(rng), target, target};
}

CropBox centerCrop(cv::Size frame, int target) {
  TSN_CHECK(frame.width >= target && frame.height >= target, "frame {}x{} smaller than crop {}",
            frame.width, frame.height, target);
  return {(frame.width - target) / 2, (frame.height - target) / 2, target, target};
}

CropBox multiScaleCrop(cv::Size frame, std::mt19937_64& rng) {
  static const double kScales[] = {1.0, 0.875, 0.75, 0.66};
  const int base = std::min(frame.width, frame.height);
  std::vector<std::pair<int, int>> sizes;  // (width, height)
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 4; ++j) {
      if (std::abs(i - j) <= 1) {
        sizes.emplace_back(static_cast<int>(base * kScales[i]),
                           static_cast<int>(base * kScales[j]));
      }
    }
  }
  const auto [w, h] = sizes[std::uniform_int_distribution<size_t>(0, sizes.size() - 1)(rng)];
  const int xs = (frame.width - w) / 4;
  const int ys = (frame.height - h) / 4;
  const std::pair<int, int> offsets[] = {
      {0, 0},       {4 * xs, 0},      {0, 4 * ys},      {4 * xs, 4 * ys}, {2 * xs, 2 * ys},
      {0, 2 * ys},  {4 * xs, 2 * ys}, {2 * xs, 4 * ys}, {2 * xs, 0},      {xs, ys},
      {3 * xs, ys}, {xs, 3 * ys},     {3 * xs, 3 * ys}};
  const auto [x, y] = offsets[std::uniform_int_distribution<int>(0, 12)(rng)];
  return {x, y, w, h};
}

std::vector<std::pair<CropBox, bool>> testCrops(cv::Size frame, int target, int count) {
  TSN_CHECK(count == 1 || count == 3 || count == 10, "test crops must be 1, 3 or 10, got {}",
            count);
  const CropBox centre = centerCrop(frame, target);
  std::vector<std::pair<CropBox, bool>> crops;
  if (count == 1) {
    crops.emplace_back(centre, false);
  } else if (count == 3) {
    const bool wide = frame.width >= frame.height;
    const int room = wide ? frame.width - target : frame.height - target;
    for (const int offset : {0, room / 2, room}) {
      CropBox b = centre;
      (wide ? b.x : b.y) = offset;
      crops.emplace_back(b, false);
    }
  } else {
    const int right = frame.width - target;
    const int bottom = frame.height - target;
    const CropBox boxes[] = {{0, 0, target, target},
                             {right, 0, target, target},
                             {0, bottom, target, target},
                             {right, bottom, target, target},
                             centre};
    for (const bool flip : {false, true}) {
      for (const auto& b : boxes) crops.emplace_back(b, flip);
    }
  }
  return crops;
}

void writeClip(const std::vector<cv::Mat>& frames, const CropBox& box, bool flip, int target,
               const std::vector<double>& mean, const std::vector<double>& std, torch::Tensor out) {
  const StageClock::Scope timed(Stage::Transform);
  const auto count = static_cast<int64_t>(frames.size());
  const bool pixels8 = out.scalar_type() == torch::kUInt8;
  TSN_CHECK((pixels8 || out.scalar_type() == torch::kFloat32) && out.is_contiguous() &&
                out.sizes() == torch::IntArrayRef({count, 3, target, target}),
            "clip tensor {} is not a contiguous float or uint8 [{}, 3, {}, {}]",
            fmt::join(out.sizes(), "x"), count, target, target);
  TSN_CHECK(mean.size() == 3 && std.size() == 3, "mean and std need 3 values each");
  // (x / 255 - mean) / std as one multiply-add per value.
  double scale[3], shift[3];
  for (int c = 0; c < 3; ++c) {
    scale[c] = 1.0 / (255.0 * std[c]);
    shift[c] = -mean[c] / std[c];
  }
  // Allocated by the first resize or flip that needs them, then kept by the thread: a new
  // 150 KB image per frame would cost its page faults each time.
  thread_local cv::Mat scratch;
  thread_local cv::Mat planes[3];
  const int64_t plane = static_cast<int64_t>(target) * target;
  for (int64_t t = 0; t < count; ++t) {
    const cv::Mat& frame = frames[t];
    TSN_CHECK(frame.type() == CV_8UC3 && box.x >= 0 && box.y >= 0 &&
                  box.x + box.width <= frame.cols && box.y + box.height <= frame.rows,
              "crop {}x{}+{}+{} outside frame {}x{}", box.width, box.height, box.x, box.y,
              frame.cols, frame.rows);
    // The crop is read in place; only a resize or a flip writes the scratch image.
    cv::Mat pixels = frame(cv::Rect(box.x, box.y, box.width, box.height));
    if (box.width != target || box.height != target) {
      cv::resize(pixels, scratch, cv::Size(target, target), 0, 0, cv::INTER_LINEAR);
      pixels = scratch;
    }
    if (flip) {
      cv::flip(pixels, scratch, 1);
      pixels = scratch;
    }
    if (pixels8) {  // straight into the batch's planes
      uint8_t* data = out.data_ptr<uint8_t>();
      std::vector<cv::Mat> into;
      for (int c = 0; c < 3; ++c)
        into.emplace_back(target, target, CV_8U, data + (t * 3 + c) * plane);
      cv::split(pixels, into);
      continue;
    }
    cv::split(pixels, planes);
    float* data = out.data_ptr<float>();
    for (int c = 0; c < 3; ++c) {
      cv::Mat channel(target, target, CV_32F, data + (t * 3 + c) * plane);
      planes[c].convertTo(channel, CV_32F, scale[c], shift[c]);
    }
  }
}

ClipNormalizer::ClipNormalizer(const std::vector<double>& mean, const std::vector<double>& std,
                               torch::Device device) {
  TSN_CHECK(mean.size() == 3 && std.size() == 3, "mean and std need 3 values each");
  // The same float factors as writeClip's (computed in double, rounded to float by OpenCV).
  std::vector<float> scale(3), shift(3);
  for (int c = 0; c < 3; ++c) {
    scale[c] = static_cast<float>(1.0 / (255.0 * std[c]));
    shift[c] = static_cast<float>(-mean[c] / std[c]);
  }
  scale_ = torch::tensor(scale).to(device);
  shift_ = torch::tensor(shift).to(device);
}

torch::Tensor ClipNormalizer::operator()(const torch::Tensor& clips) const {
  if (clips.scalar_type() != torch::kUInt8) return clips;
  TSN_CHECK(clips.dim() >= 3 && clips.size(-3) == 3, "uint8 clips {} have no channel axis of 3",
            fmt::join(clips.sizes(), "x"));
  std::vector<int64_t> shape(static_cast<size_t>(clips.dim()), 1);
  shape[static_cast<size_t>(clips.dim() - 3)] = 3;
  return clips.to(torch::kFloat32).mul_(scale_.view(shape)).add_(shift_.view(shape));
}

torch::Tensor clipToTensor(const std::vector<cv::Mat>& frames, const CropBox& box, bool flip,
                           int target, const std::vector<double>& mean,
                           const std::vector<double>& std) {
  auto out =
      torch::empty({static_cast<int64_t>(frames.size()), 3, target, target}, torch::kFloat32);
  writeClip(frames, box, flip, target, mean, std, out);
  return out;
}

}  // namespace tsn
