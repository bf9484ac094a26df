// tsn_bench allreduce: the bucketed gradient reducer against one contiguous all-reduce, and the
// share of the reduction hidden behind backward (run under mpirun).
#include <nlohmann/json.hpp>

#include <algorithm>
#include <iostream>

#include "bench/Bench.h"
#include "common/Main.h"
#include "common/Stopwatch.h"
#include "config/Config.h"
#include "distributed/GradientReducer.h"
#include "distributed/MpiCommunicator.h"
#include "distributed/MpiWorld.h"
#include "model/Tsn.h"

namespace tsn {
namespace {

struct AllReduceOptions {
  std::string backbone = "resnet50";
  double bucketMb = DistConfig{}.bucketMb;
  double firstBucketMb = DistConfig{}.firstBucketMb;
  int iters = 10;
  int batch = 2;                                ///< clips per rank for the overlap measurement
  int size = 112;                               ///< frame size for the overlap measurement
  int progressUs = DistConfig{}.mpiProgressUs;  ///< 0: no progress thread
};

/// Bucketed reducer on a TSN's real gradient shapes against one all-reduce of a contiguous
/// buffer of the same size, and how much of the reduction a real training step hides behind
/// backward. Rank 0 prints JSON.
int runAllReduce(const AllReduceOptions& o, int* argc, char*** argv) {
  MpiWorld world(argc, argv);
  MpiCommunicator comm(world, 600, std::chrono::microseconds(o.progressUs));
  ModelConfig mc;
  mc.backbone = o.backbone;
  mc.numClasses = 400;
  torch::manual_seed(0);
  Tsn model(mc);
  std::vector<torch::Tensor> params;
  int64_t numel = 0;
  for (const auto& p : model->parameters()) {
    params.push_back(p);
    numel += p.numel();
  }
  const double bytes = static_cast<double>(numel) * 4;

  auto flat = torch::ones({numel});
  const double contiguous = bench::secondsPerCall([&] { comm.allReduce(flat); }, o.iters);

  // The reducer's own path: hooks fill the buckets during a backward pass whose gradients are
  // ready at once, then finish() reduces them.
  GradientReducer reducer(params, comm, o.bucketMb, o.firstBucketMb);
  std::vector<torch::Tensor> grads;
  for (const auto& p : params) grads.push_back(torch::randn_like(p));
  // As the trainer's optimizer does: gradients reset to none before each backward (the
  // reducer's gradients are views of its buckets).
  const auto resetGrads = [](torch::nn::Module& m) {
    for (auto& p : m.parameters()) p.mutable_grad().reset();
  };
  const auto fakeBackward = [&] {
    resetGrads(*model);
    auto loss = torch::zeros({});
    for (size_t k = 0; k < params.size(); ++k) loss = loss + (params[k] * grads[k]).sum();
    loss.backward();
  };
  const double bucketed = bench::secondsPerCall(
      [&] {
        fakeBackward();
        reducer.finish();
      },
      o.iters);
  // Subtract the cost of the same backward graph without the reducer's hooks.
  const double fakeCost = bench::secondsPerCall(
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
  Stopwatch finishClock;
  double finishWait = 0;
  const double withReducer = bench::secondsPerCall(
      [&] {
        resetGrads(*model);
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
    Tsn plain(mc);
    return bench::secondsPerCall(
        [&] {
          resetGrads(*plain);
          torch::cross_entropy_loss(plain->forward(clips), labels).backward();
        },
        o.iters);
  }();
  // What backward hid: the reduction takes bucketedComm on its own; whatever of it is still
  // outstanding when backward ends is the wait in finish().
  const double hidden = std::clamp(1.0 - finishWait / bucketedComm, 0.0, 1.0);

  if (world.rank() == 0) {
    const nlohmann::json report = {
        {"benchmark", "allreduce"},
        {"backend", comm.backendName()},
        {"progress_thread_us", comm.progressThread() ? o.progressUs : 0},
        {"ranks", comm.size()},
        {"backbone", o.backbone},
        {"gradient_mb", bytes / 1e6},
        {"tensors", params.size()},
        {"bucket_mb", o.bucketMb},
        {"first_bucket_mb", o.firstBucketMb},
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
  return kExitOk;
}

}  // namespace

bench::Benchmark bench::addAllReduce(CLI::App& app) {
  auto o = std::make_shared<AllReduceOptions>();
  auto* allreduce = app.add_subcommand(
      "allreduce", "bucketed gradient all-reduce vs one contiguous buffer (run under mpirun)");
  allreduce->add_option("--backbone", o->backbone, "gradient shapes of this ResNet")
      ->capture_default_str();
  allreduce->add_option("--bucket-mb", o->bucketMb, "bucket size")->capture_default_str();
  allreduce->add_option("--first-bucket-mb", o->firstBucketMb, "the first bucket's size")
      ->capture_default_str();
  allreduce->add_option("--iters", o->iters, "timed repetitions")->capture_default_str();
  allreduce->add_option("--batch", o->batch, "clips per rank in the overlap step")
      ->capture_default_str();
  allreduce->add_option("--size", o->size, "frame size in the overlap step")->capture_default_str();
  allreduce
      ->add_option("--progress-us", o->progressUs,
                   "progress thread interval, as dist.mpi_progress_us (0: none)")
      ->capture_default_str();
  return {allreduce, [o](int* argc, char*** argv) { return runAllReduce(*o, argc, argv); }};
}

}  // namespace tsn
