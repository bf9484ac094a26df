#include "common/Error.h"

#include <filesystem>

namespace tsn {

namespace detail {
void throwCheckFailure(const char* file, int line, const char* expr, const std::string& message) {
  throw Error(fmt::format("{} (check '{}' failed at {}:{})", message, expr,
                          std::filesystem::path(file).filename().string(), line));
}
}  // namespace detail
}  // namespace tsn
