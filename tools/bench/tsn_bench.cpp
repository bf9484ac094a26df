// tsn_bench decode: clips/s and decode work of the sparse reader against a reader that decodes
// and converts every frame and then picks (what the reference reader does).
// tsn_bench allreduce: the bucketed gradient reducer against one contiguous all-reduce.
// tsn_bench train: training steps per second of one rank on in-memory clips (model, precision,
// layout as a config says), to compare with tools/bench_pytorch_tsn.py on the same device.
// JSON on stdout.
#include <sys/resource.h>

#include <torch/version.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <iostream>
#include <mutex>
#include <numeric>
#include <random>

#include "common/Main.h"
#include "common/Parallel.h"
#include "common/Stopwatch.h"
#include "config/Config.h"
#include "data/FileList.h"
#include "data/Sampling.h"
#include "dist/GradientReducer.h"
#include "dist/MpiCommunicator.h"
#include "dist/MpiWorld.h"
#include "model/Tsn.h"
#include "train/DeviceMemory.h"
#include "train/TrainingStep.h"
#include "video/VideoReader.h"

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
};

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

double peakRssMb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024.0;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5))];
}

nlohmann::json runReader(const DecodeOptions& o, const std::vector<tsn::VideoSample>& videos,
                         bool decodeEverything) {
  const int total = o.clips > 0 ? o.clips : static_cast<int>(videos.size());
  std::mutex mutex;
  std::vector<double> latencyMs;
  int64_t decoded = 0, sampled = 0, minimum = 0;
  tsn::Stopwatch wall;
  tsn::parallelFor(static_cast<size_t>(total), o.workers, [&](size_t c) {
    const auto& video = videos[c % videos.size()];
    tsn::Stopwatch clock;
    tsn::VideoReader reader(video.path);
    const int64_t n = reader.info().numFrames;
    std::mt19937_64 rng(o.seed * 1000003 + c);
    auto wanted = o.mode == "train" ? tsn::sampleTrainFrames(n, o.segNum, o.seglen, rng)
                                    : tsn::sampleEvalFrames(n, o.segNum, o.seglen);
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
          {"latency_ms_p50", percentile(latencyMs, 0.5)},
          {"latency_ms_p99", percentile(latencyMs, 0.99)},
          {"peak_rss_mb_so_far", peakRssMb()}};
}

struct AllReduceOptions {
  std::string backbone = "resnet50";
  double bucketMb = 25;
  int iters = 10;
  int batch = 2;   ///< clips per rank for the overlap measurement
  int size = 112;  ///< frame size for the overlap measurement
};

double seconds(const std::function<void()>& f, int iters) {
  f();  // warm-up
  tsn::Stopwatch clock;
  for (int i = 0; i < iters; ++i) f();
  return clock.seconds() / iters;
}

/// Bucketed reducer on a TSN's real gradient shapes against one all-reduce of a contiguous
/// buffer of the same size, and how much of the reduction a real training step hides behind
/// backward. Rank 0 prints JSON.
int runAllReduce(const AllReduceOptions& o, int* argc, char*** argv) {
  tsn::MpiWorld world(argc, argv);
  tsn::MpiCommunicator comm(world, 600);
  tsn::ModelConfig mc;
  mc.backbone = o.backbone;
  mc.numClasses = 400;
  torch::manual_seed(0);
  tsn::Tsn model(mc);
  std::vector<torch::Tensor> params;
  int64_t numel = 0;
  for (const auto& p : model->parameters()) {
    params.push_back(p);
    numel += p.numel();
  }
  const double bytes = static_cast<double>(numel) * 4;

  auto flat = torch::ones({numel});
  const double contiguous = seconds([&] { comm.allReduce(flat); }, o.iters);

  // The reducer's own path: hooks fill the buckets during a backward pass whose gradients are
  // ready at once, then finish() reduces them.
  tsn::GradientReducer reducer(params, comm, o.bucketMb);
  std::vector<torch::Tensor> grads;
  for (const auto& p : params) grads.push_back(torch::randn_like(p));
  const auto fakeBackward = [&] {
    auto loss = torch::zeros({});
    for (size_t k = 0; k < params.size(); ++k) loss = loss + (params[k] * grads[k]).sum();
    loss.backward();
  };
  const double bucketed = seconds(
      [&] {
        fakeBackward();
        reducer.finish();
      },
      o.iters);
  // Subtract the cost of the same backward graph without the reducer's hooks.
  const double fakeCost = seconds(
      [&] {
        auto loss = torch::zeros({});
        for (size_t k = 0; k < grads.size(); ++k) {
          auto leaf = grads[k].detach().requires_grad_();
          loss = loss + (leaf * grads[k]).sum();
        }
        loss.backward();
      },
      o.iters);
  const double bucketedComm = std::max(bucketed - fakeCost, 1e-9);

  // A real step: forward + backward with the reducer, against the same without communication.
  const auto clips = torch::randn({o.batch, 3, 3, o.size, o.size});
  const auto labels = torch::zeros({o.batch}, torch::kInt64);
  tsn::Stopwatch finishClock;
  double finishWait = 0;
  const double withReducer = seconds(
      [&] {
        model->zero_grad();
        torch::cross_entropy_loss(model->forward(clips), labels).backward();
        finishClock.reset();
        reducer.finish();
        finishWait += finishClock.seconds();
      },
      o.iters);
  finishWait /= (o.iters + 1);
  const double computeOnly = [&] {
    // Without the reducer's hooks: a fresh model of the same shape.
    torch::manual_seed(0);
    tsn::Tsn plain(mc);
    return seconds(
        [&] {
          plain->zero_grad();
          torch::cross_entropy_loss(plain->forward(clips), labels).backward();
        },
        o.iters);
  }();
  // What backward hid: the reduction takes bucketedComm on its own; whatever of it is still
  // outstanding when backward ends is the wait in finish() (which also averages and copies
  // back, so this share errs low).
  const double hidden = std::clamp(1.0 - finishWait / bucketedComm, 0.0, 1.0);

  if (world.rank() == 0) {
    const nlohmann::json report = {
        {"benchmark", "allreduce"},
        {"backend", comm.backendName()},
        {"ranks", comm.size()},
        {"backbone", o.backbone},
        {"gradient_mb", bytes / 1e6},
        {"tensors", params.size()},
        {"bucket_mb", o.bucketMb},
        {"buckets", reducer.bucketCount()},
        {"contiguous_s", contiguous},
        {"contiguous_gb_per_s", bytes / contiguous / 1e9},
        {"bucketed_s", bucketedComm},
        {"bucketed_gb_per_s", bytes / bucketedComm / 1e9},
        {"bucketed_vs_contiguous_bandwidth", contiguous / bucketedComm},
        {"step_compute_s", computeOnly},
        {"step_with_reducer_s", withReducer},
        {"finish_wait_s", finishWait},
        {"buckets_started_during_backward", reducer.launchedDuringBackward()},
        {"communication_hidden_share", hidden}};
    std::cout << report.dump(2) << std::endl;
  }
  return tsn::kExitOk;
}

struct TrainBenchOptions {
  std::string config;
  std::vector<std::string> overrides;
  int iters = 20;
  int warmup = 5;
};

/// Training steps on one batch held on the device: the trainer's own step (TrainingStep: autocast,
/// fp32 loss, loss scaling, our SGD), the model's speed without the input pipeline.
int runTrainBench(const TrainBenchOptions& o) {
  const tsn::Config c = tsn::loadConfig(o.config, o.overrides);
  const torch::Device device =
      torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  at::globalContext().setBenchmarkCuDNN(c.train.cudnnBenchmark);
  torch::manual_seed(0);
  tsn::Tsn model(c.model);
  model->to(device);
  model->train();
  tsn::LocalCommunicator comm;
  tsn::TrainingStep step(c, model, comm, device);
  const int64_t frames = c.model.segNum * c.model.seglen;
  const auto clips =
      torch::randn({c.train.batchSize, frames, 3, c.data.targetSize, c.data.targetSize},
                   torch::TensorOptions().device(device));
  const auto labels = torch::randint(c.model.numClasses, {c.train.batchSize},
                                     torch::TensorOptions().device(device).dtype(torch::kInt64));
  int64_t n = 0;
  for (int i = 0; i < o.warmup; ++i) step.run(clips, labels, c.train.lr, ++n).loss.item<double>();
  tsn::Stopwatch clock;
  torch::Tensor loss;
  int skipped = 0;
  for (int i = 0; i < o.iters; ++i) {
    const auto outcome = step.run(clips, labels, c.train.lr, ++n);
    loss = outcome.loss;
    skipped += outcome.applied ? 0 : 1;
  }
  const double lastLoss = loss.item<double>();  // waits for the device
  const double seconds = clock.seconds();
  nlohmann::json report = {{"benchmark", "train"},
                           {"implementation", "tsn-dist (LibTorch " TORCH_VERSION ")"},
                           {"device", device.str()},
                           {"backbone", c.model.backbone},
                           {"seg_num", c.model.segNum},
                           {"batch", c.train.batchSize},
                           {"size", c.data.targetSize},
                           {"precision", tsn::toString(c.train.precision)},
                           {"channels_last", c.train.channelsLast},
                           {"iters", o.iters},
                           {"skipped_steps", skipped},
                           {"seconds_per_step", seconds / o.iters},
                           {"clips_per_s", c.train.batchSize * o.iters / seconds},
                           {"last_loss", lastLoss}};
  if (const auto mb = tsn::peakDeviceMemoryMb(device)) report["gpu_memory_peak_mb"] = *mb;
  std::cout << report.dump(2) << std::endl;
  return tsn::kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tsn-dist benchmarks (JSON output)"};
  app.require_subcommand(1);
  DecodeOptions o;
  auto* decode = app.add_subcommand("decode", "sparse reader vs decode-everything-then-pick");
  decode->add_option("--list", o.list, "file list")->required();
  decode->add_option("--root", o.root, "directory the listed paths are relative to");
  decode->add_option("--seg-num", o.segNum, "segments per clip")->capture_default_str();
  decode->add_option("--seglen", o.seglen, "frames per segment")->capture_default_str();
  decode->add_option("--mode", o.mode, "train (random) or val (centres)")
      ->check(CLI::IsMember({"train", "val"}))
      ->capture_default_str();
  decode->add_option("--workers", o.workers, "decode threads")->capture_default_str();
  decode->add_option("--clips", o.clips, "clips to decode (0: each video once)")
      ->capture_default_str();
  decode->add_option("--short-side", o.shortSide, "scale frames to this short side (0: native)")
      ->capture_default_str();
  AllReduceOptions ar;
  auto* allreduce = app.add_subcommand(
      "allreduce", "bucketed gradient all-reduce vs one contiguous buffer (run under mpirun)");
  allreduce->add_option("--backbone", ar.backbone, "gradient shapes of this ResNet")
      ->capture_default_str();
  allreduce->add_option("--bucket-mb", ar.bucketMb, "bucket size")->capture_default_str();
  allreduce->add_option("--iters", ar.iters, "timed repetitions")->capture_default_str();
  allreduce->add_option("--batch", ar.batch, "clips per rank in the overlap step")
      ->capture_default_str();
  allreduce->add_option("--size", ar.size, "frame size in the overlap step")->capture_default_str();
  TrainBenchOptions tb;
  auto* train = app.add_subcommand(
      "train",
      "training steps/s of one rank on in-memory clips (model and precision from a config)");
  train->add_option("--config", tb.config, "TOML config (model, data.target_size, train.*)")
      ->required();
  train->add_option("--set", tb.overrides, "override a key: section.key=value (repeatable)");
  train->add_option("--iters", tb.iters, "timed steps")->capture_default_str();
  train->add_option("--warmup", tb.warmup, "untimed steps first")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  if (train->parsed()) return tsn::runMain("tsn_bench", [&] { return runTrainBench(tb); });
  if (allreduce->parsed()) {
    return tsn::runMain("tsn_bench", [&] { return runAllReduce(ar, &argc, &argv); });
  }
  return tsn::runMain("tsn_bench", [&] {
    const auto videos = tsn::readFileList(o.list, tsn::DataFormat::Video, o.root, INT64_MAX);
    nlohmann::json sparse = runReader(o, videos, false);
    nlohmann::json everything = runReader(o, videos, true);
    const nlohmann::json report = {
        {"benchmark", "decode"},
        {"list", o.list},
        {"videos", videos.size()},
        {"seg_num", o.segNum},
        {"seglen", o.seglen},
        {"mode", o.mode},
        {"workers", o.workers},
        {"short_side", o.shortSide},
        {"sparse", sparse},
        {"decode_all_then_pick", everything},
        {"speedup_clips_per_s",
         sparse["clips_per_s"].get<double>() / everything["clips_per_s"].get<double>()},
        {"sparse_decoded_vs_minimum",
         sparse["frames_decoded_per_sampled_frame"].get<double>() /
             sparse["minimum_frames_per_sampled_frame"].get<double>()}};
    std::cout << report.dump(2) << std::endl;
    return tsn::kExitOk;
  });
}
