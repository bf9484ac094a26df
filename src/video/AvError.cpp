#include "video/AvError.h"

extern "C" {
#include <libavutil/error.h>
}

#include <filesystem>

namespace tsn::av {

std::string errorText(int code) {
  char buffer[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(code, buffer, sizeof(buffer));
  return buffer;
}

void throwAvError(const char* expr, int code, const std::string& context, const char* file,
                  int line) {
  throw Error(fmt::format("{}: {} (FFmpeg: {} at {}:{}, rank {})", context, errorText(code), expr,
                          std::filesystem::path(file).filename().string(), line, errorRank()));
}

}  // namespace tsn::av
