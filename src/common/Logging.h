#pragma once
/// @file Logging for a cluster operator: the rank in every line, rank 0 on the console, one file
/// per rank, and a module tag per logger (`[data]`, `[train]`, ...).

#include <spdlog/spdlog.h>

#include <memory>
#include <string>

namespace tsn::logging {

struct Options {
  int rank = 0;
  int worldSize = 1;
  std::string level = "info";    ///< trace | debug | info | warn | error
  std::string directory;         ///< where rank<N>.log goes; empty: no file
  bool consoleAllRanks = false;  ///< every rank on the console, not only rank 0
};

/// (Re)configures every module logger. Before the first call, loggers print to the console
/// as rank 0.
void init(const Options& options);

/// The logger of one module, e.g. get("data"). Cheap after the first call.
std::shared_ptr<spdlog::logger> get(const std::string& module);

/// Flushes every logger (before exiting).
void flush();

}  // namespace tsn::logging
