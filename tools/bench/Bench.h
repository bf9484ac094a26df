#pragma once
/// @file tsn_bench's benchmarks: each adds its subcommand to the program and returns how to run
/// it; every one prints one JSON object on stdout.

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

namespace tsn {
struct VideoSample;
}

namespace tsn::bench {

/// Runs a parsed benchmark (argc / argv for those that start MPI); returns the exit code.
using Run = std::function<int(int* argc, char*** argv)>;
/// A benchmark's subcommand, and how to run it once parsed.
using Benchmark = std::pair<CLI::App*, Run>;

Benchmark addDecode(CLI::App& app);
Benchmark addLoad(CLI::App& app);
Benchmark addAllReduce(CLI::App& app);
Benchmark addTrain(CLI::App& app);
Benchmark addJpeg(CLI::App& app);

/// For tsn_bench load on shards: the JPEG-decode-only rate (TurboJPEG with the loader's fast IDCT
/// and the accurate one, OpenCV's imdecode) of the frames `clips` training clips of `samples` read,
/// bytes read beforehand, in clips/s: the limit of the format on this core.
nlohmann::json shardDecodeLimit(const std::vector<VideoSample>& samples, int clips, int64_t segNum,
                                int64_t seglen, int shortSide);

/// The peak resident memory of this process so far, MiB.
double peakRssMb();
/// CPU seconds (user + system) of every thread of this process so far.
double cpuSeconds();
/// Bytes this process has read so far through read(2) and pread(2), page cache included
/// (/proc/self/io `rchar`); -1 where the kernel does not say.
int64_t bytesRead();
/// The `p`-quantile of `values` (nearest rank).
double percentile(std::vector<double> values, double p);
/// Seconds per call of `f`, over `iters` calls after one warm-up call.
double secondsPerCall(const std::function<void()>& f, int iters);

}  // namespace tsn::bench
