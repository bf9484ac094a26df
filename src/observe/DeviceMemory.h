#pragma once
/// @file GPU memory figures for logs (what MMAction2 users read as `memory`).

#include <torch/types.h>

#include <optional>

namespace tsn {

/// The most memory LibTorch's caching allocator has handed out on `device` since the process
/// started (torch.cuda.max_memory_allocated), in MiB. nullopt on the CPU, or in a build
/// without a CUDA LibTorch.
std::optional<double> peakDeviceMemoryMb(const torch::Device& device);

/// Returns once the work queued so far on `device`'s current stream has run (CUDA builds; at
/// once on the CPU): what a host-side timer of device work must wait for.
void waitForDevice(const torch::Device& device);

}  // namespace tsn
