#include "common/Main.h"

#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <iostream>

#include "common/AbandonableThread.h"
#include "common/Error.h"
#include "common/Logging.h"

namespace tsn {

namespace {
std::atomic<int> gStopSignal{0};
static_assert(std::atomic<int>::is_always_lock_free, "set from a signal handler");

extern "C" void onStopSignal(int signal) {
  gStopSignal.store(signal);
  if (signal == SIGTERM) {
    // A second SIGTERM ends the process at once: the default action from now on.
    struct sigaction fallback {};
    fallback.sa_handler = SIG_DFL;
    sigemptyset(&fallback.sa_mask);
    sigaction(SIGTERM, &fallback, nullptr);
  }
  static const char kSaid[] =
      "tsn-dist: stop signal: checkpoint at the next step, then exit 75 (a second SIGTERM ends "
      "the process at once)\n";
  // Only async-signal-safe calls here: write(2), not the logger.
  [[maybe_unused]] const auto written = ::write(STDERR_FILENO, kSaid, sizeof(kSaid) - 1);
}
}  // namespace

const std::atomic<int>* installStopSignals() {
  struct sigaction action {};
  action.sa_handler = onStopSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  for (const int signal : {SIGUSR1, SIGTERM}) sigaction(signal, &action, nullptr);
  return &gStopSignal;
}

int leaveProcess(int code) {
  const int64_t stuck = AbandonableThread::stuckThreads();
  if (stuck == 0) return code;
  logging::get("main")->warn(
      "{} abandoned read{} still stuck in a system call: exiting without tearing down", stuck,
      stuck == 1 ? " is" : "s are");
  logging::flush();
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  ::_exit(code);
}

int runMain(const char* program, const std::function<int()>& body) {
  int code = kExitFailure;
  try {
    code = body();
  } catch (const ConfigError& e) {
    std::cerr << program << ": config error: " << e.what() << std::endl;
    code = kExitConfigError;
  } catch (const WriteError& e) {
    logging::get("main")->error("{}", e.what());
    std::cerr << program << ": write error: " << e.what() << std::endl;
    code = kExitWriteFailed;
  } catch (const std::exception& e) {
    logging::get("main")->error("{}", e.what());
    std::cerr << program << ": error: " << e.what() << std::endl;
    code = kExitFailure;
  }
  logging::flush();
  return code;
}

}  // namespace tsn
