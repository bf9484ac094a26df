#include "common/Main.h"

#include <iostream>

#include "common/Error.h"
#include "common/Logging.h"

namespace tsn {

int runMain(const char* program, const std::function<int()>& body) {
  int code = kExitFailure;
  try {
    code = body();
  } catch (const ConfigError& e) {
    std::cerr << program << ": config error: " << e.what() << std::endl;
    code = kExitConfigError;
  } catch (const std::exception& e) {
    logging::get("main")->error("{}", e.what());
    std::cerr << program << ": error: " << e.what() << std::endl;
    code = kExitFailure;
  }
  logging::flush();
  return code;
}

}  // namespace tsn
