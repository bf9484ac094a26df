#include "common/Error.h"

#include <filesystem>

#include "common/Logging.h"

namespace tsn {

namespace detail {

void logFailureSite(const char* file, int line, const char* expr, const std::string& message) {
  logging::get("check")->debug("{} failed at {}:{}: {}", expr,
                               std::filesystem::path(file).filename().string(), line, message);
}

std::string calledFunction(const char* expr) {
  const std::string text(expr);
  return text.substr(0, text.find('('));
}

void throwCheckFailure(const char* file, int line, const char* expr, const std::string& message) {
  logFailureSite(file, line, expr, message);
  throw Error(message);
}

}  // namespace detail
}  // namespace tsn
