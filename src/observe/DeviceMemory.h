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
/// once on the CPU): what a host-side timer of device work must wait for. Counted by
/// hostWaits(), on the CPU too.
void waitForDevice(const torch::Device& device);

/// How many times this process called waitForDevice: the training loop waits for the device
/// only through it (PhaseClock::collect, once per log window), so a test on the CPU counts the
/// host synchronisations a GPU run makes.
int64_t hostWaits();

}  // namespace tsn
