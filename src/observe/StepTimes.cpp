#include "observe/StepTimes.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace tsn {
namespace {

constexpr std::array<Phase, kPhaseCount> kPhases = {
    Phase::DataWait, Phase::ForwardBackward, Phase::ReduceWait, Phase::Optimizer, Phase::Pause};

}  // namespace

const char* phaseLabel(Phase phase) {
  static const char* const labels[] = {"data", "fwd+bwd", "allreduce", "opt", "pause"};
  return labels[static_cast<int>(phase)];
}

const char* phaseKey(Phase phase) {
  static const char* const keys[] = {"data_wait_s", "forward_backward_s", "allreduce_wait_s",
                                     "optimizer_s", "pause_s"};
  return keys[static_cast<int>(phase)];
}

PhaseTimes WindowTimes::meanPerStep() const {
  PhaseTimes mean;
  if (perRank.empty() || steps <= 0) return mean;
  const double scale = 1.0 / (static_cast<double>(perRank.size()) * static_cast<double>(steps));
  for (const auto& rank : perRank) {
    for (const Phase p : kPhases) mean[p] += rank[p] * scale;
  }
  return mean;
}

int WindowTimes::slowestRank() const {
  if (perRank.size() < 2) return -1;
  int slowest = 0;
  double most = -1;
  for (size_t r = 0; r < perRank.size(); ++r) {
    const double own = wallS[r] - perRank[r][Phase::ReduceWait];
    if (own > most) {
      most = own;
      slowest = static_cast<int>(r);
    }
  }
  return slowest;
}

std::pair<Phase, double> WindowTimes::slowestCause() const {
  const int slowest = slowestRank();
  if (slowest < 0 || steps <= 0) return {Phase::ForwardBackward, 0.0};
  std::pair<Phase, double> cause{Phase::ForwardBackward, -1e300};
  for (const Phase p : kPhases) {
    if (p == Phase::ReduceWait) continue;
    double others = 0;
    for (size_t r = 0; r < perRank.size(); ++r) {
      if (static_cast<int>(r) != slowest) others += perRank[r][p];
    }
    others /= static_cast<double>(perRank.size() - 1);
    const double excess = (perRank[slowest][p] - others) / static_cast<double>(steps);
    if (excess > cause.second) cause = {p, excess};
  }
  return cause;
}

double WindowTimes::networkWaitPerStep() const {
  if (perRank.size() < 2 || steps <= 0) return 0.0;
  double least = perRank[0][Phase::ReduceWait];
  for (const auto& rank : perRank) least = std::min(least, rank[Phase::ReduceWait]);
  return least / static_cast<double>(steps);
}

double WindowTimes::meanStepS() const {
  if (wallS.empty() || steps <= 0) return 0.0;
  double wall = 0;
  for (const double w : wallS) wall += w;
  return wall / static_cast<double>(wallS.size()) / static_cast<double>(steps);
}

bool WindowTimes::networkBound() const {
  const double stepS = meanStepS();
  return stepS > 0 && networkWaitPerStep() >= kNetworkBoundShare * stepS;  // 0 with one rank
}

std::string WindowTimes::summary() const {
  const PhaseTimes mean = meanPerStep();
  std::string text;
  for (const Phase p : kPhases) text += fmt::format("{} {:.3f} ", phaseLabel(p), mean[p]);
  text += perRank.size() > 1 ? fmt::format("s/step (mean of {} ranks)", perRank.size())
                             : std::string("s/step");
  const int slowest = slowestRank();
  if (slowest >= 0) {
    const auto [phase, excess] = slowestCause();
    text += fmt::format("; slowest rank {}: {} {:+.3f} s/step", slowest, phaseLabel(phase), excess);
  }
  if (networkBound()) {
    const double wait = networkWaitPerStep();
    text += fmt::format("; network: every rank waits >= {:.3f} s/step ({:.0f}%) for the all-reduce",
                        wait, 100.0 * wait / meanStepS());
  }
  return text;
}

void WindowTimes::addTo(nlohmann::json& record) const {
  const PhaseTimes mean = meanPerStep();
  nlohmann::json perStep = nlohmann::json::object(), ranks = nlohmann::json::object();
  for (const Phase p : kPhases) {
    perStep[phaseKey(p)] = mean[p];
    std::vector<double> values;
    for (const auto& rank : perRank) values.push_back(rank[p] / std::max<int64_t>(steps, 1));
    ranks[phaseKey(p)] = values;
  }
  record["window_steps"] = steps;
  record["step_time"] = perStep;
  record["step_time_per_rank"] = ranks;
  const int slowest = slowestRank();
  if (slowest >= 0) {
    const auto [phase, excess] = slowestCause();
    record["slowest_rank"] = slowest;
    record["slowest_cause"] = phaseKey(phase);
    record["slowest_excess_s"] = excess;
    record["network_wait_s"] = networkWaitPerStep();
    record["network_bound"] = networkBound();
  }
}

WindowTimes gatherWindowTimes(Communicator& comm, const PhaseTimes& mine, double wallS,
                              int64_t steps) {
  auto local = torch::empty({kPhaseCount + 1}, torch::kFloat64);
  for (const Phase p : kPhases) local[static_cast<int>(p)] = mine[p];
  local[kPhaseCount] = wallS;
  const auto all = comm.allGather(local).to(torch::kCPU).contiguous();
  const auto values = all.accessor<double, 2>();
  WindowTimes w;
  w.steps = steps;
  for (int64_t r = 0; r < all.size(0); ++r) {
    PhaseTimes t;
    for (const Phase p : kPhases) t[p] = values[r][static_cast<int>(p)];
    w.perRank.push_back(t);
    w.wallS.push_back(values[r][kPhaseCount]);
  }
  return w;
}

void Eta::add(int64_t units, double seconds) {
  if (units <= 0 || seconds <= 0) return;
  const double rate = seconds / static_cast<double>(units);
  perUnit_ = perUnit_ > 0 ? 0.7 * perUnit_ + 0.3 * rate : rate;
}

}  // namespace tsn
