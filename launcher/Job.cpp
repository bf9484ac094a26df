#include "launcher/Job.h"

#include <torch/version.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "common/Error.h"
#include "common/Logging.h"
#include "common/Main.h"
#include "distributed/CommunicatorFactory.h"
#ifdef TSN_WITH_CUDA
#include "distributed/NcclSupport.h"
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

void Job::startRunLog(const Config& config, const std::string& configPath) const {
  const std::filesystem::path workDir = config.train.workDir;
  std::filesystem::create_directories(workDir);
  initLogging(config, (workDir / "logs").string());
  auto log = logging::get("main");
  const std::string resolved = toToml(config);
  if (comm->rank() == 0) std::ofstream(workDir / "config.toml") << resolved;
  log->info("config {} resolved to:\n{}", configPath, resolved);
  if (world) {
    log->info("rank {} of {} on {} (local rank {} of {}), backend {}", world->rank(), world->size(),
              world->hostname(), world->localRank(), world->localSize(), comm->backendName());
    // Where every rank runs, in rank 0's log: "ranks on hosts: node1 [0 1], node2 [2 3]".
    const auto& hosts = world->hosts();
    std::vector<std::pair<std::string, std::vector<size_t>>> runs;  // consecutive ranks per host
    for (size_t r = 0; r < hosts.size(); ++r) {
      if (runs.empty() || runs.back().first != hosts[r]) runs.push_back({hosts[r], {}});
      runs.back().second.push_back(r);
    }
    std::vector<std::string> groups;
    for (const auto& [host, ranks] : runs) {
      groups.push_back(fmt::format("{} [{}]", host, fmt::join(ranks, " ")));
    }
    log->info("ranks on hosts: {}", fmt::join(groups, ", "));
    log->info("Open MPI settings: {}", describe(world->mcaSettings()));
  }
}

int Job::finish(int code) {
  const bool failed = code != kExitOk && code != kExitStopped;
  if (failed && world && world->size() > 1) MpiWorld::abort(code);
  comm.reset();
  world.reset();  // MPI_Finalize
  return leaveProcess(code);
}

void ScoringOptions::addTo(CLI::App& app) {
  app.add_option("-c,--config", config, "TOML config the model was trained with")->required();
  app.add_option("--checkpoint", checkpoint, "tsn-dist checkpoint")->required();
  app.add_option("--set", overrides, "override a key: section.key=value (repeatable)");
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

}  // namespace tsn
