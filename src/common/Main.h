#pragma once
/// @file The one place entry points turn exceptions into exit codes and one clear line.

#include <functional>

namespace tsn {

/// Exit codes of every tsn-dist program.
enum ExitCode : int { kExitOk = 0, kExitFailure = 1, kExitConfigError = 2 };

/// Runs `body`; a ConfigError prints "<program>: config error: <what>" and returns 2, any
/// other exception "<program>: error: <what>" and returns 1. Logs are flushed either way.
int runMain(const char* program, const std::function<int()>& body);

}  // namespace tsn
