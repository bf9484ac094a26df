#include "bench/Bench.h"

#include <sys/resource.h>

#include <algorithm>
#include <fstream>
#include <string>

#include "common/Stopwatch.h"

namespace tsn::bench {

double peakRssMb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024.0;
}

double cpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const auto seconds = [](const timeval& t) { return t.tv_sec + t.tv_usec * 1e-6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

int64_t bytesRead() {
  std::ifstream io("/proc/self/io");
  std::string key;
  int64_t value = 0;
  while (io >> key >> value) {
    if (key == "rchar:") return value;
  }
  return -1;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5))];
}

double secondsPerCall(const std::function<void()>& f, int iters) {
  f();  // warm-up
  Stopwatch clock;
  for (int i = 0; i < iters; ++i) f();
  return clock.seconds() / iters;
}

}  // namespace tsn::bench
