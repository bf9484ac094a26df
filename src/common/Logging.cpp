#include "common/Logging.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <filesystem>
#include <mutex>
#include <unordered_map>

#include "common/Error.h"

namespace tsn::logging {
namespace {

struct Registry {
  std::mutex mutex;
  std::vector<spdlog::sink_ptr> sinks;
  std::unordered_map<std::string, std::shared_ptr<spdlog::logger>> loggers;
  spdlog::level::level_enum level = spdlog::level::info;
  std::string pattern = "[%Y-%m-%d %H:%M:%S.%e] [rank 0] [%n] %^%l%$: %v";
  bool initialised = false;
};

Registry& registry() {
  static Registry r;
  return r;
}

std::shared_ptr<spdlog::logger> makeLogger(Registry& r, const std::string& module) {
  auto logger = std::make_shared<spdlog::logger>(module, r.sinks.begin(), r.sinks.end());
  logger->set_level(r.level);
  logger->set_pattern(r.pattern);
  logger->flush_on(spdlog::level::warn);
  return logger;
}

void ensureDefaultSinks(Registry& r) {
  if (!r.initialised) {
    r.sinks = {std::make_shared<spdlog::sinks::stderr_color_sink_mt>()};
    r.initialised = true;
  }
}

}  // namespace

void init(const Options& options) {
  auto& r = registry();
  std::lock_guard lock(r.mutex);
  r.level = spdlog::level::from_str(options.level);
  r.pattern = fmt::format("[%Y-%m-%d %H:%M:%S.%e] [rank {}] [%n] %^%l%$: %v", options.rank);
  r.sinks.clear();
  auto console = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  // Rank 0 talks; other ranks only say what went wrong, unless asked for everything.
  if (options.rank != 0 && !options.consoleAllRanks) console->set_level(spdlog::level::warn);
  r.sinks.push_back(console);
  if (!options.directory.empty()) {
    std::filesystem::create_directories(options.directory);
    const auto file =
        std::filesystem::path(options.directory) / fmt::format("rank{}.log", options.rank);
    r.sinks.push_back(std::make_shared<spdlog::sinks::basic_file_sink_mt>(file.string()));
  }
  r.initialised = true;
  for (auto& [module, logger] : r.loggers) {
    logger->sinks() = r.sinks;
    logger->set_level(r.level);
    logger->set_pattern(r.pattern);
  }
}

std::shared_ptr<spdlog::logger> get(const std::string& module) {
  auto& r = registry();
  std::lock_guard lock(r.mutex);
  ensureDefaultSinks(r);
  auto it = r.loggers.find(module);
  if (it == r.loggers.end()) it = r.loggers.emplace(module, makeLogger(r, module)).first;
  return it->second;
}

void flush() {
  auto& r = registry();
  std::lock_guard lock(r.mutex);
  for (auto& [module, logger] : r.loggers) logger->flush();
}

}  // namespace tsn::logging
