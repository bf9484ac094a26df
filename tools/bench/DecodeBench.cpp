// tsn_bench decode: clips/s and decode work of the sparse reader against a reader that decodes
// and converts every frame and then picks (what the reference reader does).
#include <nlohmann/json.hpp>

#include <algorithm>
#include <iostream>
#include <mutex>
#include <numeric>
#include <random>

#include <opencv2/core.hpp>

#include "bench/Bench.h"
#include "common/Main.h"
#include "common/Parallel.h"
#include "common/Stopwatch.h"
#include "data/FileList.h"
#include "data/Sampling.h"
#include "video/VideoReader.h"

namespace tsn {
namespace {

struct DecodeOptions {
  std::string list, root;
  int segNum = 3;
  int seglen = 1;
  std::string mode = "train";
  int workers = 1;
  int clips = 0;  ///< 0: every video of the list once
  int shortSide = 0;
  uint64_t seed = 0;
  bool skipLoopFilter = false;
};

/// The frames clip `c` of a run decodes: training (random) or evaluation (centre) sampling.
std::vector<int64_t> clipFrames(const DecodeOptions& o, int64_t numFrames, size_t c) {
  std::mt19937_64 rng(o.seed * 1000003 + c);
  return o.mode == "train" ? sampleTrainFrames(numFrames, o.segNum, o.seglen, rng)
                           : sampleEvalFrames(numFrames, o.segNum, o.seglen);
}

ReaderOptions readerOptions(const DecodeOptions& o) {
  ReaderOptions options;
  options.skipLoopFilter = o.skipLoopFilter;
  return options;
}

/// Frames a decoder must produce at the least to reach `wanted` (sorted), starting each GOP at
/// its keyframe and carrying on inside a GOP.
int64_t minimumFrames(const std::vector<int64_t>& keyframes, const std::vector<int64_t>& wanted) {
  int64_t total = 0, position = -1;
  for (const int64_t t : wanted) {
    const int64_t key = *(std::upper_bound(keyframes.begin(), keyframes.end(), t) - 1);
    const int64_t start = position >= key ? position + 1 : key;
    total += std::max<int64_t>(t - start + 1, 0);
    position = std::max(position, t);
  }
  return total;
}

nlohmann::json runReader(const DecodeOptions& o, const std::vector<VideoSample>& videos,
                         bool decodeEverything) {
  const int total = o.clips > 0 ? o.clips : static_cast<int>(videos.size());
  std::mutex mutex;
  std::vector<double> latencyMs;
  int64_t decoded = 0, sampled = 0, minimum = 0;
  Stopwatch wall;
  parallelFor(static_cast<size_t>(total), o.workers, [&](size_t c) {
    const auto& video = videos[c % videos.size()];
    Stopwatch clock;
    VideoReader reader(video.path, readerOptions(o));
    const int64_t n = reader.info().numFrames;
    auto wanted = clipFrames(o, n, c);
    if (decodeEverything) {
      std::vector<int64_t> all(n);
      std::iota(all.begin(), all.end(), 0);
      const auto frames = reader.decode(all, o.shortSide);
      std::vector<cv::Mat> picked;
      for (const int64_t i : wanted) picked.push_back(frames[i]);
    } else {
      reader.decode(wanted, o.shortSide);
    }
    const double ms = clock.seconds() * 1000;
    std::sort(wanted.begin(), wanted.end());
    wanted.erase(std::unique(wanted.begin(), wanted.end()), wanted.end());
    std::lock_guard lock(mutex);
    latencyMs.push_back(ms);
    decoded += reader.stats().framesDecoded;
    sampled += static_cast<int64_t>(wanted.size());
    minimum += minimumFrames(reader.info().keyframes, wanted);
  });
  const double seconds = wall.seconds();
  return {{"clips", total},
          {"seconds", seconds},
          {"clips_per_s", total / seconds},
          {"frames_decoded_per_sampled_frame", static_cast<double>(decoded) / sampled},
          {"minimum_frames_per_sampled_frame", static_cast<double>(minimum) / sampled},
          {"latency_ms_p50", bench::percentile(latencyMs, 0.5)},
          {"latency_ms_p99", bench::percentile(latencyMs, 0.99)},
          {"peak_rss_mb_so_far", bench::peakRssMb()}};
}

/// PSNR (dB; identical frames count as 100) of the sparse reader's frames against exactly
/// decoded ones, over the first `clips` clips of a run: what --skip-loop-filter costs in frames.
nlohmann::json psnrAgainstExact(const DecodeOptions& o, const std::vector<VideoSample>& videos,
                                int clips) {
  std::vector<double> psnr;
  for (int c = 0; c < clips; ++c) {
    const auto& video = videos[c % videos.size()];
    VideoReader fast(video.path, readerOptions(o));
    VideoReader exact(video.path);
    const auto wanted = clipFrames(o, exact.info().numFrames, static_cast<size_t>(c));
    const auto a = fast.decode(wanted, o.shortSide);
    const auto b = exact.decode(wanted, o.shortSide);
    for (size_t i = 0; i < a.size(); ++i) psnr.push_back(std::min(cv::PSNR(a[i], b[i]), 100.0));
  }
  return {{"frames", psnr.size()},
          {"mean", std::accumulate(psnr.begin(), psnr.end(), 0.0) / psnr.size()},
          {"min", *std::min_element(psnr.begin(), psnr.end())},
          {"p10", bench::percentile(psnr, 0.1)}};
}

int runDecode(const DecodeOptions& o) {
  const auto videos = readFileList(o.list, DataFormat::Video, o.root, INT64_MAX);
  nlohmann::json sparse = runReader(o, videos, false);
  nlohmann::json everything = runReader(o, videos, true);
  nlohmann::json report = {
      {"benchmark", "decode"},
      {"list", o.list},
      {"videos", videos.size()},
      {"seg_num", o.segNum},
      {"seglen", o.seglen},
      {"mode", o.mode},
      {"workers", o.workers},
      {"short_side", o.shortSide},
      {"skip_loop_filter", o.skipLoopFilter},
      {"sparse", sparse},
      {"decode_all_then_pick", everything},
      {"speedup_clips_per_s",
       sparse["clips_per_s"].get<double>() / everything["clips_per_s"].get<double>()},
      {"sparse_decoded_vs_minimum", sparse["frames_decoded_per_sampled_frame"].get<double>() /
                                        sparse["minimum_frames_per_sampled_frame"].get<double>()}};
  if (o.skipLoopFilter) {
    // After the timed runs: the frames' distance from exact decoding.
    report["psnr_db_vs_exact"] =
        psnrAgainstExact(o, videos, std::min(report["sparse"]["clips"].get<int>(), 40));
  }
  std::cout << report.dump(2) << std::endl;
  return kExitOk;
}

}  // namespace

bench::Benchmark bench::addDecode(CLI::App& app) {
  auto o = std::make_shared<DecodeOptions>();
  auto* decode = app.add_subcommand("decode", "sparse reader vs decode-everything-then-pick");
  decode->add_option("--list", o->list, "file list")->required();
  decode->add_option("--root", o->root, "directory the listed paths are relative to");
  decode->add_option("--seg-num", o->segNum, "segments per clip")->capture_default_str();
  decode->add_option("--seglen", o->seglen, "frames per segment")->capture_default_str();
  decode->add_option("--mode", o->mode, "train (random) or val (centres)")
      ->check(CLI::IsMember({"train", "val"}))
      ->capture_default_str();
  decode->add_option("--workers", o->workers, "decode threads")->capture_default_str();
  decode->add_option("--clips", o->clips, "clips to decode (0: each video once)")
      ->capture_default_str();
  decode->add_option("--short-side", o->shortSide, "scale frames to this short side (0: native)")
      ->capture_default_str();
  decode->add_flag("--skip-loop-filter", o->skipLoopFilter,
                   "decode without the deblocking filter (data.skip_loop_filter); also reports "
                   "the frames' PSNR against exact decoding");
  return {decode, [o](int*, char***) { return runDecode(*o); }};
}

}  // namespace tsn
