#pragma once
/// @file Setting a training run up (tsn_dist): the --debug policy, and the model every rank
/// trains, the same on all of them.

#include <torch/torch.h>

#include <string>
#include <vector>

#include "checkpoint/Resume.h"
#include "config/Config.h"
#include "data/ClipLoader.h"
#include "distributed/Communicator.h"
#include "model/Tsn.h"

namespace tsn {

/// --debug: one process, decoding in the training thread, a log line and a NaN/Inf check per
/// step, deterministic algorithms (on a GPU cuBLAS's fixed workspace, set before its first
/// handle). Returns the config overrides it implies, to go before the user's --set (which can
/// still change any of them); sets the process-wide rest. ConfigError under an MPI launcher.
std::vector<std::string> applyDebugPolicy();

/// The model of the run on `device`: initialised from train.seed, the pretrained or fine-tuning
/// weights loaded, then, after checking that every rank runs the same job (weights' names and
/// shapes, config, file lists, world size), rank 0's weights on every rank; then each rank's
/// random streams seeded for step 0 (seedRankStreams). Logs what it loaded and where it resumes
/// from. Every rank calls it.
Tsn buildModel(const Config& config, const RunStart& start, Communicator& comm,
               const ClipLoader& trainLoader, const ClipLoader& valLoader, torch::Device device);

/// Seeds this process's random streams (the CPU's and every GPU's generator: dropout masks) from
/// the run's seed, the rank and the step the run starts at, so that each rank draws its own
/// numbers, and the same ones every time. The one place they are seeded: a fresh run after the
/// model broadcast (step 0), a run resumed on another number of ranks at the checkpoint's step
/// (resumed on the same number, each rank's saved generator states continue instead).
void seedRankStreams(int64_t runSeed, int rank, int64_t step);

}  // namespace tsn
