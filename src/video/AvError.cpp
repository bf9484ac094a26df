#include "video/AvError.h"

extern "C" {
#include <libavutil/error.h>
}

#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string_view>

extern "C" {
#include <libavutil/log.h>
}

namespace tsn::av {

std::string errorText(int code) {
  char buffer[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(code, buffer, sizeof(buffer));
  return buffer;
}

void initLogging() {
  static std::once_flag once;
  std::call_once(once, [] {
    static const std::pair<std::string_view, int> kLevels[] = {
        {"quiet", AV_LOG_QUIET},     {"fatal", AV_LOG_FATAL}, {"error", AV_LOG_ERROR},
        {"warning", AV_LOG_WARNING}, {"info", AV_LOG_INFO},   {"verbose", AV_LOG_VERBOSE},
        {"debug", AV_LOG_DEBUG}};
    // Our exceptions carry FFmpeg's error for every failure; its own log lines would only repeat
    // them (once per bad video) in training logs.
    int level = AV_LOG_FATAL;
    if (const char* wanted = std::getenv("TSN_FFMPEG_LOGLEVEL")) {
      for (const auto& [name, value] : kLevels) {
        if (name == wanted) level = value;
      }
    }
    av_log_set_level(level);
  });
}

void throwAvError(const char* expr, int code, const std::string& context, const char* file,
                  int line) {
  throw Error(fmt::format("{}: {} (FFmpeg: {} at {}:{}, rank {})", context, errorText(code), expr,
                          std::filesystem::path(file).filename().string(), line, errorRank()));
}

}  // namespace tsn::av
