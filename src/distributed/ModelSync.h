#pragma once
/// @file Making every rank start from the same model, and checking that they run the same job.

#include <torch/torch.h>

#include <cstdint>
#include <string>

#include "distributed/Communicator.h"

namespace tsn {

/// Rank 0's parameters and buffers, copied to every rank (in place).
void broadcastModule(torch::nn::Module& module, Communicator& comm);

/// Averages the floating-point buffers (BatchNorm running statistics) over all ranks, in place.
/// Each rank's statistics follow its own batches; before validation and checkpoints they are
/// made one (as DDP's buffer broadcast, but from every rank's data).
void averageBuffers(torch::nn::Module& module, Communicator& comm);

/// What must be equal on every rank before training starts.
struct Fingerprint {
  uint64_t parameters = 0;  ///< names and shapes of the model's parameters and buffers
  uint64_t config = 0;      ///< the resolved config
  uint64_t trainList = 0;   ///< the training file list
  uint64_t valList = 0;
  uint64_t worldSize = 0;
};

/// Hash of a module's parameter and buffer names and shapes.
uint64_t moduleHash(const torch::nn::Module& module);

/// Gathers every rank's fingerprint; throws tsn::Error on every rank when one differs, naming
/// the first rank that differs from rank 0 and what differs.
void checkFingerprint(const Fingerprint& mine, Communicator& comm);

}  // namespace tsn
