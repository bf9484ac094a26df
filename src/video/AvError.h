#pragma once
/// @file Video errors that say why: FFmpeg's codes and our own checks as typed exceptions.

#include <exception>
#include <string>

#include "common/Error.h"

namespace tsn {

/// Why a video could not be read, as the loader and tsn_check_videos count failures.
enum class VideoFailure {
  MissingFile,
  NotARegularFile,
  UnsupportedContainer,
  NoVideoStream,
  UnsupportedCodec,
  EmptyVideo,
  InvalidData,
  Truncated,
  UndecodableFrame,
  MissingFrameImage,
  Timeout,
  Other,
};

/// "missing file", "invalid data", ...: the short name failures are counted under.
std::string toString(VideoFailure failure);

/// A video (or rawframes directory) that cannot be read; the message names the file.
class VideoError : public Error {
 public:
  VideoError(VideoFailure failure, const std::string& message)
      : Error(message), failure_(failure) {}
  VideoFailure failure() const { return failure_; }

 private:
  VideoFailure failure_;
};

/// The category a failure is counted under: a VideoError's, "other error" for anything else.
std::string failureReason(const std::exception& e);

}  // namespace tsn

namespace tsn::av {

/// FFmpeg's text for an AVERROR code.
std::string errorText(int code);

/// Sets FFmpeg's log level once per process: fatal only, or $TSN_FFMPEG_LOGLEVEL
/// (quiet, fatal, error, warning, info, verbose, debug). Every reader and writer calls it.
void initLogging();

/// Throws a VideoError "<path>: <what>: <FFmpeg's text>" for an AVERROR code, categorised by
/// the code; the call and file:line go to the debug log.
[[noreturn]] void throwAvError(const char* expr, int code, const std::string& path,
                               const char* what, const char* file, int line);

}  // namespace tsn::av

/// TSN_CHECK_AV(call, path, "cannot decode"): throws tsn::VideoError naming the path, what
/// failed and FFmpeg's message when call returns a negative AVERROR.
#define TSN_CHECK_AV(expr, path, what)                                                \
  do {                                                                                \
    const int tsnAvCode_ = (expr);                                                    \
    if (tsnAvCode_ < 0) {                                                             \
      ::tsn::av::throwAvError(#expr, tsnAvCode_, (path), (what), __FILE__, __LINE__); \
    }                                                                                 \
  } while (false)
