#pragma once
/// @file Timing a training step's phases without making the host wait for the device.
///
/// On the CPU a phase is the host time between two marks. On a GPU the host only queues work,
/// so each mark records a CUDA event on the current stream; the events are read once per log
/// window (collect), after the one wait for the device that the window needs anyway. Every such
/// wait in the training loop goes through waitForDevice (observe/DeviceMemory.h), which counts
/// it (hostWaits), on the CPU too, so that a CPU test can count what a GPU run would wait.

#include <torch/types.h>

#include <memory>
#include <vector>

#include "common/Stopwatch.h"
#include "observe/StepTimes.h"

namespace tsn {

class PhaseClock {
 public:
  explicit PhaseClock(torch::Device device);
  ~PhaseClock();
  PhaseClock(const PhaseClock&) = delete;
  PhaseClock& operator=(const PhaseClock&) = delete;

  /// The device work of a step starts now (before its first kernel is queued).
  void start();
  /// `phase` ends now: the device's time since the previous mark (or start) goes to it.
  void mark(Phase phase);
  /// Waits once for the device (on a GPU: for the last mark's event; counted by hostWaits),
  /// then adds every marked phase's seconds since the last collect to `times`.
  void collect(PhaseTimes& times);

 private:
  struct Events;  ///< CUDA events of the marks since the last collect (GPU builds)
  torch::Device device_;
  Stopwatch lap_;
  PhaseTimes host_;  ///< CPU: the phases' seconds since the last collect
  std::unique_ptr<Events> events_;
};

}  // namespace tsn
