#include "video/AvError.h"

extern "C" {
#include <libavutil/error.h>
}

#include <cstdlib>
#include <mutex>
#include <string_view>

extern "C" {
#include <libavutil/log.h>
}

namespace tsn {

std::string toString(VideoFailure failure) {
  switch (failure) {
    case VideoFailure::MissingFile:
      return "missing file";
    case VideoFailure::NotARegularFile:
      return "not a regular file";
    case VideoFailure::UnsupportedContainer:
      return "unsupported container";
    case VideoFailure::NoVideoStream:
      return "no video stream";
    case VideoFailure::UnsupportedCodec:
      return "unsupported codec";
    case VideoFailure::EmptyVideo:
      return "empty video";
    case VideoFailure::InvalidData:
      return "invalid data";
    case VideoFailure::Truncated:
      return "truncated";
    case VideoFailure::UndecodableFrame:
      return "undecodable frame";
    case VideoFailure::MissingFrameImage:
      return "missing frame image";
    case VideoFailure::Timeout:
      return "timed out";
    case VideoFailure::Other:
      break;
  }
  return "other error";
}

std::string failureReason(const std::exception& e) {
  const auto* video = dynamic_cast<const VideoError*>(&e);
  return toString(video != nullptr ? video->failure() : VideoFailure::Other);
}

}  // namespace tsn

namespace tsn::av {
namespace {

VideoFailure failureOf(int code) {
  switch (code) {
    case AVERROR(ENOENT):
      return VideoFailure::MissingFile;
    case AVERROR_INVALIDDATA:
      return VideoFailure::InvalidData;
    case AVERROR_EOF:
      return VideoFailure::Truncated;
    case AVERROR_DECODER_NOT_FOUND:
      return VideoFailure::UnsupportedCodec;
    case AVERROR_DEMUXER_NOT_FOUND:
    case AVERROR_PROTOCOL_NOT_FOUND:
      return VideoFailure::UnsupportedContainer;
    case AVERROR_EXIT:
      return VideoFailure::Timeout;
    default:
      return VideoFailure::Other;
  }
}

}  // namespace

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

void throwAvError(const char* expr, int code, const std::string& path, const char* what,
                  const char* file, int line) {
  const std::string message = fmt::format("{}: {}: {}", path, what, errorText(code));
  detail::logFailureSite(file, line, expr, message);
  throw VideoError(failureOf(code), message);
}

}  // namespace tsn::av
