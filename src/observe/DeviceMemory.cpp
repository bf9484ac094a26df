#include "observe/DeviceMemory.h"

#include <atomic>

// The allocator's statistics exist only in CUDA builds of LibTorch.
#if defined(TSN_WITH_CUDA) && __has_include(<c10/cuda/CUDACachingAllocator.h>)
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#define TSN_CUDA_ALLOCATOR_STATS 1
#endif
#if defined(TSN_WITH_CUDA) && __has_include(<c10/cuda/CUDAStream.h>)
#include <c10/cuda/CUDAStream.h>
#define TSN_CUDA_STREAMS 1
#endif

namespace tsn {

namespace {
std::atomic<int64_t> waits{0};
}  // namespace

int64_t hostWaits() {
  return waits.load();
}

std::optional<double> peakDeviceMemoryMb(const torch::Device& device) {
#ifdef TSN_CUDA_ALLOCATOR_STATS
  if (device.is_cuda()) {
    const auto index = device.has_index() ? device.index() : c10::cuda::current_device();
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(index);
    // allocated_bytes[0]: the aggregate over pool types (StatType::AGGREGATE in every version).
    return static_cast<double>(stats.allocated_bytes[0].peak) / (1024.0 * 1024.0);
  }
#endif
  return std::nullopt;
}

void waitForDevice(const torch::Device& device) {
  ++waits;
#ifdef TSN_CUDA_STREAMS
  if (device.is_cuda()) c10::cuda::getCurrentCUDAStream(device.index()).synchronize();
#else
  (void)device;
#endif
}

}  // namespace tsn
