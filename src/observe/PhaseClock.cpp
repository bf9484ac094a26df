#include "observe/PhaseClock.h"

#include "common/Error.h"
#include "observe/DeviceMemory.h"

#if defined(TSN_WITH_CUDA) && __has_include(<ATen/cuda/CUDAEvent.h>)
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>
#define TSN_CUDA_EVENTS 1
#endif

namespace tsn {

struct PhaseClock::Events {
#ifdef TSN_CUDA_EVENTS
  /// A step's start, then each mark: (phase, event); the phase of the start entry is unused.
  std::vector<std::pair<Phase, std::unique_ptr<at::cuda::CUDAEvent>>> marks;
  void record(Phase phase, const torch::Device& device) {
    auto event = std::make_unique<at::cuda::CUDAEvent>(cudaEventDefault);  // with timing
    event->record(c10::cuda::getCurrentCUDAStream(device.index()));
    marks.emplace_back(phase, std::move(event));
  }
#endif
};

namespace {
constexpr Phase kStart = Phase::Pause;  // tags a step's start event (never a measured phase)
}  // namespace

PhaseClock::PhaseClock(torch::Device device)
    : device_(device), events_(std::make_unique<Events>()) {}
PhaseClock::~PhaseClock() = default;

void PhaseClock::start() {
#ifdef TSN_CUDA_EVENTS
  if (device_.is_cuda()) {
    events_->record(kStart, device_);
    return;
  }
#endif
  lap_.reset();
}

void PhaseClock::mark(Phase phase) {
  TSN_CHECK(phase != kStart, "PhaseClock: the pause is not a step phase");
#ifdef TSN_CUDA_EVENTS
  if (device_.is_cuda()) {
    events_->record(phase, device_);
    return;
  }
#endif
  host_[phase] += lap_.seconds();
  lap_.reset();
}

void PhaseClock::collect(PhaseTimes& times) {
  waitForDevice(device_);  // the window's one wait; on a GPU the last event is then complete
#ifdef TSN_CUDA_EVENTS
  if (device_.is_cuda()) {
    auto& marks = events_->marks;
    for (size_t k = 1; k < marks.size(); ++k) {
      if (marks[k].first == kStart) continue;
      times[marks[k].first] += marks[k - 1].second->elapsed_time(*marks[k].second) / 1000.0;
    }
    marks.clear();
    return;
  }
#endif
  for (int p = 0; p < kPhaseCount; ++p) times.seconds[p] += host_.seconds[p];
  host_ = PhaseTimes{};
}

}  // namespace tsn
