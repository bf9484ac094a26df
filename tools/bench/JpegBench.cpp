// tsn_bench jpeg: what a JPEG quality costs and keeps, for frames as tsn_pack stores them: bytes
// per frame, PSNR against the frame the sparse reader gave (accurate and fast IDCT), encode and
// decode frames/s (TurboJPEG both ways, OpenCV's imdecode beside it). And, for tsn_bench load on
// shards, the JPEG-decode-only rate of the frames a training epoch reads: the format's limit.
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <iostream>
#include <random>

#include "bench/Bench.h"
#include "common/Error.h"
#include "common/Main.h"
#include "common/Stopwatch.h"
#include "common/Strings.h"
#include "data/FileList.h"
#include "data/Sampling.h"
#include "video/FrameShards.h"
#include "video/Jpeg.h"
#include "video/VideoReader.h"

namespace tsn {
namespace {

struct JpegOptions {
  std::string list, root;
  int shortSide = 256;
  int framesPerVideo = 10;
  std::vector<int> qualities = {75, 80, 85, 90, 95};
};

using Bytes = std::vector<std::vector<uint8_t>>;

/// Frames/s of decoding every image of `images` once with `decode` (after one warm-up image).
template <class Decode>
double decodeRate(const Bytes& images, const Decode& decode) {
  decode(images.front());
  Stopwatch clock;
  for (const auto& b : images) decode(b);
  return images.size() / clock.seconds();
}

double turboRate(const Bytes& images, bool fastDct, const jpeg::Target& target) {
  jpeg::Decoder decoder(fastDct);
  return decodeRate(images, [&](const std::vector<uint8_t>& b) {
    return decoder.decode(b.data(), b.size(), target, [] { return std::string("frame"); });
  });
}

double opencvRate(const Bytes& images) {
  return decodeRate(images, [](const std::vector<uint8_t>& b) {
    cv::Mat rgb;
    cv::cvtColor(cv::imdecode(b, cv::IMREAD_COLOR), rgb, cv::COLOR_BGR2RGB);
    return rgb;
  });
}

int runJpegBench(const JpegOptions& o) {
  const auto videos = readFileList(o.list, DataFormat::Video, o.root, INT64_MAX);
  std::vector<cv::Mat> frames;  // framesPerVideo spread over each video, at --short-side
  for (const auto& v : videos) {
    VideoReader reader(v.path);
    std::vector<int64_t> wanted;
    for (int k = 0; k < o.framesPerVideo; ++k) {
      wanted.push_back(reader.numFrames() * k / o.framesPerVideo);
    }
    for (auto& f : reader.decode(wanted, o.shortSide)) frames.push_back(f);
  }
  TSN_CHECK(!frames.empty(), "{}: no frames", o.list);
  nlohmann::json rows = nlohmann::json::array();
  for (const int q : o.qualities) {
    Bytes images(frames.size());
    jpeg::Encoder encoder;
    Stopwatch clock;
    for (size_t i = 0; i < frames.size(); ++i) encoder.encode(frames[i], q, images[i]);
    const double encodeRate = frames.size() / clock.seconds();
    double bytes = 0, psnrAccurate = 0, psnrFast = 0, minFast = 1e9;
    jpeg::Decoder accurate(false), fast(true);
    for (size_t i = 0; i < frames.size(); ++i) {
      const auto name = [] { return std::string("frame"); };
      const auto& b = images[i];
      const double a = cv::PSNR(accurate.decode(b.data(), b.size(), {}, name), frames[i]);
      const double f = cv::PSNR(fast.decode(b.data(), b.size(), {}, name), frames[i]);
      bytes += b.size();
      psnrAccurate += a / frames.size();
      psnrFast += f / frames.size();
      minFast = std::min(minFast, f);
    }
    rows.push_back({{"quality", q},
                    {"bytes_per_frame", bytes / frames.size()},
                    {"psnr_db_accurate_idct", psnrAccurate},
                    {"psnr_db_fast_idct", psnrFast},
                    {"psnr_db_fast_idct_min", minFast},
                    {"encode_frames_per_s", encodeRate},
                    {"decode_frames_per_s_accurate_idct", turboRate(images, false, {})},
                    {"decode_frames_per_s_fast_idct", turboRate(images, true, {})},
                    {"decode_frames_per_s_opencv_imdecode", opencvRate(images)}});
  }
  const nlohmann::json report = {{"benchmark", "jpeg"},
                                 {"list", o.list},
                                 {"videos", videos.size()},
                                 {"frames", frames.size()},
                                 {"width", frames.front().cols},
                                 {"height", frames.front().rows},
                                 {"qualities", rows}};
  std::cout << report.dump(2) << std::endl;
  return kExitOk;
}

}  // namespace

nlohmann::json bench::shardDecodeLimit(const std::vector<VideoSample>& samples, int clips,
                                       int64_t segNum, int64_t seglen, int shortSide) {
  // The frames training sampling picks, read beforehand (untimed): decoding alone is timed.
  std::mt19937_64 rng(1);
  Bytes images;
  for (int k = 0; k < clips; ++k) {
    const VideoSample& s = samples[static_cast<size_t>(k) % samples.size()];
    TSN_CHECK(s.packed, "{}: not a packed video", s.path);
    const auto file = shards::openShared(s.path);
    for (const int64_t i :
         sampleTrainFrames(static_cast<int64_t>(s.packed->frames.size()), segNum, seglen, rng)) {
      const auto& f = s.packed->frames[static_cast<size_t>(i)];
      images.emplace_back();
      file->read(f.offset, f.size, images.back());
    }
  }
  const double framesPerClip = static_cast<double>(segNum * seglen);
  // The loader's decoder (fast IDCT) timed twice around the others, the better kept: a noisy
  // neighbour then lowers the limit less than it lowers the run it is compared with.
  const jpeg::Target target{shortSide, {}};
  double fast = turboRate(images, true, target);
  const double accurate = turboRate(images, false, target);
  const double opencv = opencvRate(images);
  fast = std::max(fast, turboRate(images, true, target));
  return {{"frames", images.size()},
          {"turbojpeg_clips_per_s", fast / framesPerClip},
          {"turbojpeg_accurate_idct_clips_per_s", accurate / framesPerClip},
          {"opencv_imdecode_clips_per_s", opencv / framesPerClip},
          {"turbojpeg_frames_per_s", fast},
          {"opencv_imdecode_frames_per_s", opencv}};
}

bench::Benchmark bench::addJpeg(CLI::App& app) {
  auto o = std::make_shared<JpegOptions>();
  auto* jpeg = app.add_subcommand(
      "jpeg", "JPEG qualities on a list's frames: bytes, PSNR, encode and decode frames/s");
  jpeg->add_option("--list", o->list, "video list ('path label' lines)")->required();
  jpeg->add_option("--root", o->root, "directory the listed paths are relative to");
  jpeg->add_option("--short-side", o->shortSide, "frames scaled to this short side, as packed")
      ->check(CLI::Range(0, 8192))
      ->capture_default_str();
  jpeg->add_option("--frames-per-video", o->framesPerVideo, "frames spread over each video")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  jpeg->add_option("--qualities", o->qualities, "JPEG qualities to measure")
      ->check(CLI::Range(1, 100))
      ->delimiter(',')
      ->capture_default_str();
  return {jpeg, [o](int*, char***) { return runJpegBench(*o); }};
}

}  // namespace tsn
