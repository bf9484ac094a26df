#pragma once
/// @file tsn_bench's benchmarks: each adds its subcommand to the program and returns how to run
/// it; every one prints one JSON object on stdout.

#include <CLI/CLI.hpp>

#include <functional>
#include <utility>
#include <vector>

namespace tsn::bench {

/// Runs a parsed benchmark (argc / argv for those that start MPI); returns the exit code.
using Run = std::function<int(int* argc, char*** argv)>;
/// A benchmark's subcommand, and how to run it once parsed.
using Benchmark = std::pair<CLI::App*, Run>;

Benchmark addDecode(CLI::App& app);
Benchmark addLoad(CLI::App& app);
Benchmark addAllReduce(CLI::App& app);
Benchmark addTrain(CLI::App& app);

/// The peak resident memory of this process so far, MiB.
double peakRssMb();
/// CPU seconds (user + system) of every thread of this process so far.
double cpuSeconds();
/// The `p`-quantile of `values` (nearest rank).
double percentile(std::vector<double> values, double p);
/// Seconds per call of `f`, over `iters` calls after one warm-up call.
double secondsPerCall(const std::function<void()>& f, int iters);

}  // namespace tsn::bench
