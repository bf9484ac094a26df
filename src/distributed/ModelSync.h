#pragma once
/// @file Making every rank start from the same model, and checking that they run the same job.

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <string>

#include "distributed/Communicator.h"

namespace tsn {

/// Rank 0's parameters and buffers, copied to every rank (in place).
void broadcastModule(torch::nn::Module& module, Communicator& comm);

/// Averages the floating-point buffers (BatchNorm running statistics) over all ranks, in place.
/// Each rank's statistics follow its own batches; before validation they are made one (as
/// DDP's buffer broadcast, but from every rank's data).
void averageBuffers(torch::nn::Module& module, Communicator& comm);

/// Every rank's floating-point buffers by name, each stacked as [size(), ...] on the CPU in its
/// own dtype; collective. A checkpoint keeps them so that a resumed rank continues from its own
/// statistics: averaging them at a stop the uninterrupted run never made would change the
/// rounding of everything after it.
std::map<std::string, torch::Tensor> gatherBuffers(torch::nn::Module& module, Communicator& comm);

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
