// tsn_dist: trains a TSN from a TOML config. One process per rank under mpirun (or srun);
// without a launcher it runs as a world of one.
#include <CLI/CLI.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>

#include "common/Logging.h"
#include "common/Main.h"
#include "config/Config.h"
#include "data/ClipLoader.h"
#include "dist/Communicator.h"
#include "model/Tsn.h"
#include "model/Weights.h"
#include "train/Trainer.h"

int main(int argc, char** argv) {
  CLI::App app{"Train a Temporal Segment Network"};
  std::string configPath;
  std::vector<std::string> overrides;
  app.add_option("-c,--config", configPath, "TOML config file")->required();
  app.add_option("--set", overrides, "override a key: section.key=value (repeatable)");
  CLI11_PARSE(app, argc, argv);

  return tsn::runMain("tsn_dist", [&] {
    // Everything a user can get wrong is checked before any model or thread exists.
    const tsn::Config config = tsn::loadConfig(configPath, overrides);
    tsn::checkTrainingInputs(config);
    const tsn::StateDict pretrained = config.model.pretrained.empty()
                                          ? tsn::StateDict{}
                                          : tsn::readStateDict(config.model.pretrained);
    tsn::LocalCommunicator comm;
    auto trainLoader =
        tsn::makeClipLoader(config, config.data.trainList, true, comm.rank(), comm.size());
    auto valLoader =
        tsn::makeClipLoader(config, config.data.valList, false, comm.rank(), comm.size());

    const std::filesystem::path workDir = config.train.workDir;
    std::filesystem::create_directories(workDir);
    tsn::logging::init({comm.rank(), comm.size(), config.log.level,
                        config.log.rankFiles ? (workDir / "logs").string() : "",
                        config.log.consoleAllRanks});
    auto log = tsn::logging::get("main");
    const std::string resolved = tsn::toToml(config);
    if (comm.rank() == 0) std::ofstream(workDir / "config.toml") << resolved;
    log->info("config {} resolved to:\n{}", configPath, resolved);

    torch::manual_seed(static_cast<uint64_t>(config.train.seed));
    const torch::Device device = torch::cuda::is_available()
                                     ? torch::Device(torch::kCUDA, comm.localRank())
                                     : torch::Device(torch::kCPU);
    tsn::Tsn model(config.model);
    if (!config.model.pretrained.empty()) {
      const auto report = tsn::loadWeights(model, pretrained, config.model.pretrained);
      log->info("loaded {} tensors from {}; left at initial values: {}", report.loaded,
                config.model.pretrained, fmt::join(report.skipped, ", "));
    }
    model->to(device);
    tsn::Trainer trainer(config, model, *trainLoader, *valLoader, comm, device);
    const auto result = trainer.run();
    const auto& v = result.lastValidation;
    log->info("done: {} steps; final validation top1 {:.4f} top5 {:.4f} on {} clips", result.steps,
              v.top1, v.top5, v.clips);
    if (comm.rank() == 0) {
      std::cout << "final validation: top1 " << v.top1 << " top5 " << v.top5 << " (" << v.clips
                << " videos)" << std::endl;
    }
    return tsn::kExitOk;
  });
}
