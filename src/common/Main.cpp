#include "common/Main.h"

#include <csignal>
#include <iostream>

#include "common/Error.h"
#include "common/Logging.h"

namespace tsn {

namespace {
std::atomic<int> gStopSignal{0};
static_assert(std::atomic<int>::is_always_lock_free, "set from a signal handler");

extern "C" void onStopSignal(int signal) {
  gStopSignal.store(signal);
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
