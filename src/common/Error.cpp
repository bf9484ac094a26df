#include "common/Error.h"

#include <atomic>
#include <filesystem>

namespace tsn {
namespace {
std::atomic<int> gErrorRank{0};
}

void setErrorRank(int rank) {
  gErrorRank = rank;
}
int errorRank() {
  return gErrorRank;
}

namespace detail {
void throwCheckFailure(const char* file, int line, const char* expr, const std::string& message) {
  throw Error(fmt::format("{} (check '{}' failed at {}:{}, rank {})", message, expr,
                          std::filesystem::path(file).filename().string(), line, errorRank()));
}
}  // namespace detail
}  // namespace tsn
