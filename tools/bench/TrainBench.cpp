// tsn_bench train: training steps per second on in-memory clips (model, precision, layout as a
// config says), to compare with tools/bench/bench_pytorch_tsn.py on the same devices. Under
// mpirun every rank trains on its own batch and gradients are averaged as in tsn_dist (the
// dist.* settings): clips/s counts every rank's clips.
#include <torch/version.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <iostream>

#include "bench/Bench.h"
#include "common/Error.h"
#include "common/Main.h"
#include "common/Stopwatch.h"
#include "config/Config.h"
#include "distributed/CommunicatorFactory.h"
#include "distributed/MpiWorld.h"
#include "model/Tsn.h"
#include "observe/DeviceMemory.h"
#include "observe/PhaseClock.h"
#include "observe/StepTimes.h"
#include "train/TrainingStep.h"

namespace tsn {
namespace {

struct TrainBenchOptions {
  std::string config;
  std::vector<std::string> overrides;
  int iters = 20;
  int warmup = 5;
  double seconds = 0;  ///< > 0: timed steps until this long has passed, instead of iters
};

/// One all-reduce of all of the step's gradients at once, nothing else running: seconds per call.
double exchangeAloneSeconds(const TrainingStep& step, Communicator& comm, torch::Device device) {
  int64_t numel = 0;
  for (const auto& p : step.trainable()) numel += p.numel();
  auto flat = torch::ones({numel}, torch::TensorOptions().device(device));
  comm.barrier();
  return bench::secondsPerCall(
      [&] {
        comm.allReduce(flat);
        waitForDevice(device);
      },
      3);
}

/// Training steps on one batch held on the device: the trainer's own step (TrainingStep: autocast,
/// fp32 loss, loss scaling, our SGD), the model's speed without the input pipeline.
int runTrainBench(const TrainBenchOptions& o, int* argc, char*** argv) {
  const Config c = loadConfig(o.config, o.overrides);
  std::unique_ptr<MpiWorld> world;
  if (launchedByMpi()) world = std::make_unique<MpiWorld>(argc, argv);
  const auto comm = makeCommunicator(c.dist, world.get());
  if (o.seconds > 0 && comm->size() > 1) {
    throw ConfigError(
        "tsn_bench train: --seconds runs one rank (ranks would take different "
        "numbers of steps); use --iters");
  }
  const torch::Device device = pickDevice(*comm);
  at::globalContext().setBenchmarkCuDNN(c.train.cudnnBenchmark);
  torch::manual_seed(0);
  Tsn model(c.model);
  model->to(device);
  model->train();
  TrainingStep step(c, model, *comm, device);
  const int64_t frames = c.model.segNum * c.model.seglen;
  const auto clips =
      torch::randn({c.train.batchSize, frames, 3, c.data.targetSize, c.data.targetSize},
                   torch::TensorOptions().device(device));
  const auto labels = torch::randint(c.model.numClasses, {c.train.batchSize},
                                     torch::TensorOptions().device(device).dtype(torch::kInt64));
  int64_t n = 0;
  for (int i = 0; i < o.warmup; ++i) step.run(clips, labels, c.train.lr, ++n).loss.item<double>();
  Stopwatch clock;
  torch::Tensor loss;
  int skipped = 0;
  PhaseClock phases(device);
  PhaseTimes times;
  const int64_t waitsBefore = hostWaits();
  int iters = 0;
  // Time-boxed: the host queues steps until the time is up (it runs at most the launch queue
  // ahead of the device; the wait below is in the time).
  while (o.seconds > 0 ? iters == 0 || clock.seconds() < o.seconds : iters < o.iters) {
    const auto outcome = step.run(clips, labels, c.train.lr, ++n, &phases);
    loss = outcome.loss;
    skipped += outcome.applied ? 0 : 1;
    ++iters;
  }
  comm->settle();
  phases.collect(times);  // waits for the device
  const double hostWaitsPerStep = static_cast<double>(hostWaits() - waitsBefore) / iters;
  const double lastLoss = loss.item<double>();
  comm->barrier();
  const double seconds = clock.seconds();
  // The limit in the same run: the step's gradients in one all-reduce with nothing else to do.
  const double exchange = comm->size() > 1 ? exchangeAloneSeconds(step, *comm, device) : 0;
  const double wait = times[Phase::ReduceWait] / iters;
  if (comm->rank() != 0) return kExitOk;
  nlohmann::json report = {{"benchmark", "train"},
                           {"implementation", "tsn-dist (LibTorch " TORCH_VERSION ")"},
                           {"device", device.str()},
                           {"ranks", comm->size()},
                           {"backend", comm->backendName()},
                           {"bucket_mb", c.dist.bucketMb},
                           {"backbone", c.model.backbone},
                           {"seg_num", c.model.segNum},
                           {"batch", c.train.batchSize},
                           {"size", c.data.targetSize},
                           {"precision", toString(c.train.precision)},
                           {"channels_last", c.train.channelsLast},
                           {"iters", iters},
                           {"skipped_steps", skipped},
                           {"seconds_per_step", seconds / iters},
                           {"clips_per_s", c.train.batchSize * comm->size() * iters / seconds},
                           {"last_loss", lastLoss},
                           {"forward_backward_s", times[Phase::ForwardBackward] / iters},
                           {"reduce_wait_s", wait},
                           {"optimizer_s", times[Phase::Optimizer] / iters},
                           {"host_waits_per_step", hostWaitsPerStep}};
  if (const auto* reducer = step.reducer()) {
    report["buckets"] = reducer->bucketCount();
    report["first_bucket_mb"] = c.dist.firstBucketMb;
    report["exchange_alone_s"] = exchange;
    // What backward hid: the exchange takes exchange_alone_s by itself; whatever of it is still
    // outstanding when backward ends is the wait (rank 0's).
    report["exchange_hidden_share"] = std::clamp(1.0 - wait / exchange, 0.0, 1.0);
  }
  if (const auto mb = peakDeviceMemoryMb(device)) report["gpu_memory_peak_mb"] = *mb;
  std::cout << report.dump(2) << std::endl;
  return kExitOk;
}

}  // namespace

bench::Benchmark bench::addTrain(CLI::App& app) {
  auto o = std::make_shared<TrainBenchOptions>();
  auto* train = app.add_subcommand(
      "train",
      "training steps/s on in-memory clips (model and precision from a config; under mpirun, "
      "every rank, gradients averaged)");
  train->add_option("--config", o->config, "TOML config (model, data.target_size, train.*)")
      ->required();
  train->add_option("--set", o->overrides, "override a key: section.key=value (repeatable)");
  train->add_option("--iters", o->iters, "timed steps")->capture_default_str();
  train->add_option("--warmup", o->warmup, "untimed steps first")->capture_default_str();
  train->add_option("--seconds", o->seconds,
                    "time-boxed: timed steps until this many seconds have passed (at least one; "
                    "one rank), instead of --iters");
  return {train, [o](int* argc, char*** argv) { return runTrainBench(*o, argc, argv); }};
}

}  // namespace tsn
