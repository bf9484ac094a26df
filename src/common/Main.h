#pragma once
/// @file The one place entry points turn exceptions into exit codes and one clear line.

#include <atomic>
#include <functional>

namespace tsn {

/// Exit codes of every tsn-dist program. kExitStopped: training stopped on request (SIGUSR1,
/// SIGTERM) after committing a checkpoint; run it again with --resume auto (the Slurm scripts
/// requeue the job on this code). 75 is sysexits' EX_TEMPFAIL. kExitWriteFailed: a file that
/// had to be written (a checkpoint) could not be, the disk being full, say; what was written
/// before is intact (sysexits' EX_IOERR).
enum ExitCode : int {
  kExitOk = 0,
  kExitFailure = 1,
  kExitConfigError = 2,
  kExitWriteFailed = 74,
  kExitStopped = 75
};

/// From now on SIGUSR1 and SIGTERM only set a flag (the signal number) that the training loop
/// reads; returns it. A second SIGTERM ends the process at once (its default action).
const std::atomic<int>* installStopSignals();

/// A program's last call, after MPI is finalized: returns `code`, unless reads abandoned by an
/// AbandonableThread are still stuck in a system call; then the logs are flushed and the
/// process ends at once with `code` (_exit), so that a stuck thread that wakes up late cannot
/// run into globals being torn down.
int leaveProcess(int code);

/// Runs `body`; a ConfigError prints "<program>: config error: <what>" and returns 2, a
/// WriteError "<program>: write error: <what>" and returns 74, any other exception
/// "<program>: error: <what>" and returns 1. Logs are flushed either way.
int runMain(const char* program, const std::function<int()>& body);

}  // namespace tsn
