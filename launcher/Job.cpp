#include "Job.h"

#include <torch/version.h>

#include "common/Error.h"
#include "common/Logging.h"
#include "common/Main.h"
#include "dist/CommunicatorFactory.h"
#include "model/Weights.h"
#include "train/Checkpoint.h"
#ifdef TSN_WITH_CUDA
#include "dist/NcclSupport.h"
#endif

namespace tsn {

Job Job::start(const Config& config, int* argc, char*** argv, bool single) {
  Job job;
  if (!single && launchedByMpi()) job.world = std::make_unique<MpiWorld>(argc, argv);
  job.comm = makeCommunicator(config.dist, job.world.get());
  job.device = pickDevice(*job.comm);
  return job;
}

void Job::initLogging(const Config& config, const std::string& logDir) const {
  logging::init({comm->rank(), comm->size(), config.log.level,
                 config.log.rankFiles ? logDir : std::string(), config.log.consoleAllRanks});
}

int Job::finish(int code) const {
  const bool failed = code != kExitOk && code != kExitStopped;
  if (failed && world && world->size() > 1) MpiWorld::abort(code);
  return code;
}

std::string describeBuild(const std::string& program) {
#ifdef TSN_WITH_CUDA
  const std::string build = fmt::format("CUDA build, NCCL {}", nccl::runtimeVersion());
#else
  const std::string build = "CPU build";
#endif
  const auto gpus = torch::cuda::is_available() ? torch::cuda::device_count() : 0;
  return fmt::format("{} {} (LibTorch {}, {}; {} GPU{} visible)", program, TSN_VERSION,
                     TORCH_VERSION, build, gpus, gpus == 1 ? "" : "s");
}

torch::Device pickDevice(const Communicator& comm) {
  if (!torch::cuda::is_available()) return torch::kCPU;
  const auto gpus = static_cast<int>(torch::cuda::device_count());
  if (comm.localRank() >= gpus) {
    throw Error(fmt::format("this node has {} GPUs but at least {} ranks: start one rank per GPU",
                            gpus, comm.localRank() + 1));
  }
  return {torch::kCUDA, static_cast<c10::DeviceIndex>(comm.localRank())};
}

Tsn loadCheckpointModel(const Config& config, const std::string& path,
                        const torch::Device& device) {
  Checkpoint ckpt;
  try {
    ckpt = readCheckpoint(path);
    checkCheckpointFits(ckpt, config.model, path);
  } catch (const CheckpointError& e) {
    throw ConfigError(fmt::format("--checkpoint: {}", e.what()));
  }
  Tsn model(config.model);
  loadWeights(model, ckpt.model, path);
  model->to(device);
  if (config.train.channelsLast) model->useChannelsLast();
  model->eval();
  return model;
}

}  // namespace tsn
