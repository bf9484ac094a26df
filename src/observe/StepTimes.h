#pragma once
/// @file Where training time goes. Each rank sums its time per phase over a log window; once
/// per window the ranks' sums are gathered (one small collective), giving the mean over ranks
/// and the slowest rank (the one the others wait for) with the phase that makes it slow; and
/// the time left, from the rate so far.

#include <nlohmann/json.hpp>

#include <array>
#include <string>
#include <vector>

#include "distributed/Communicator.h"

namespace tsn {

/// A step's phases, on one rank.
enum class Phase : int {
  DataWait,         ///< waiting for the next batch from the loader
  ForwardBackward,  ///< forward, loss and backward (gradient all-reduces overlap it)
  ReduceWait,       ///< after backward, waiting for the gradient all-reduce to complete
  Optimizer,        ///< unscaling, checks, clipping and the SGD update
  Pause,            ///< validation and checkpoints that fell in the window
};
constexpr int kPhaseCount = 5;

/// The phase's name in the log line ("data") and in metrics.jsonl ("data_wait_s").
const char* phaseLabel(Phase phase);
const char* phaseKey(Phase phase);

struct PhaseTimes {
  std::array<double, kPhaseCount> seconds{};
  double& operator[](Phase p) { return seconds[static_cast<int>(p)]; }
  double operator[](Phase p) const { return seconds[static_cast<int>(p)]; }
};

/// One log window's times on every rank.
struct WindowTimes {
  int64_t steps = 0;                ///< steps in the window (the same on every rank)
  std::vector<PhaseTimes> perRank;  ///< seconds per phase, summed over the window
  std::vector<double> wallS;        ///< each rank's wall time of the window

  /// Seconds per step in each phase, averaged over ranks.
  PhaseTimes meanPerStep() const;
  /// The rank with the most time not spent waiting for the others' gradients (wall time less
  /// the all-reduce wait): the one the others wait for. -1 with one rank.
  int slowestRank() const;
  /// Where the slowest rank spends more than the other ranks do on average: the phase (not the
  /// all-reduce wait) with the largest excess, and that excess in seconds per step.
  std::pair<Phase, double> slowestCause() const;

  /// Seconds per step that even the least-waiting rank spends waiting for the gradient
  /// all-reduce: time no rank's compute explains, i.e. the network's (0 with one rank). Where
  /// it is a large share of the step (networkBound), a faster link or larger batch helps, not
  /// a faster rank; which link is slow cannot be told from it (every rank of a ring waits alike).
  double networkWaitPerStep() const;
  bool networkBound() const;  ///< networkWaitPerStep() >= kNetworkBoundShare of the step
  double meanStepS() const;   ///< wall seconds per step, averaged over ranks
  static constexpr double kNetworkBoundShare = 0.3;

  /// "data 0.012 fwd+bwd 0.210 allreduce 0.030 opt 0.005 pause 0.000 s/step (mean of 2 ranks);
  /// slowest rank 1: data +0.150 s/step", and where networkBound "; network: every rank waits
  /// >= 0.400 s/step (45%) for the all-reduce"
  std::string summary() const;
  /// step_time (mean s/step per phase), step_time_per_rank (lists), window_steps, and
  /// slowest_rank / slowest_cause / slowest_excess_s, network_wait_s and network_bound with
  /// several ranks.
  void addTo(nlohmann::json& record) const;
};

/// Gathers every rank's window (all ranks must call, with the same `steps`).
WindowTimes gatherWindowTimes(Communicator& comm, const PhaseTimes& mine, double wallS,
                              int64_t steps);

/// Time left from the rate so far: seconds per unit (step, batch) as an exponential moving
/// average over the windows seen (the first window alone counts fully).
class Eta {
 public:
  void add(int64_t units, double seconds);
  bool known() const { return perUnit_ > 0; }
  double secondsFor(int64_t units) const { return perUnit_ * static_cast<double>(units); }

 private:
  double perUnit_ = 0;
};

}  // namespace tsn
