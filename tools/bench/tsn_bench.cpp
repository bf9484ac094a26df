// tsn_bench: benchmarks of tsn-dist's own code, JSON on stdout.
//   decode     the sparse reader against decoding every frame (tools/bench/DecodeBench.cpp)
//   load       the training input pipeline per core, and where its time goes (LoadBench.cpp)
//   allreduce  the bucketed gradient reducer against one all-reduce (AllReduceBench.cpp)
//   train      the trainer's own step on in-memory clips (TrainBench.cpp)
//   jpeg       JPEG qualities: bytes, PSNR, encode / decode frames/s (JpegBench.cpp)
#include <CLI/CLI.hpp>

#include "bench/Bench.h"
#include "common/Main.h"

int main(int argc, char** argv) {
  CLI::App app{"tsn-dist benchmarks (JSON output)"};
  app.require_subcommand(1);
  const std::vector<tsn::bench::Benchmark> benchmarks = {
      tsn::bench::addDecode(app), tsn::bench::addLoad(app), tsn::bench::addAllReduce(app),
      tsn::bench::addTrain(app), tsn::bench::addJpeg(app)};
  CLI11_PARSE(app, argc, argv);
  for (const auto& [command, run] : benchmarks) {
    if (command->parsed()) return tsn::runMain("tsn_bench", [&] { return run(&argc, &argv); });
  }
  return tsn::kExitFailure;
}
