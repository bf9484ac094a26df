#pragma once
/// @file FFmpeg error codes as exceptions.

#include <string>

#include "common/Error.h"

namespace tsn::av {

/// FFmpeg's text for an AVERROR code.
std::string errorText(int code);

/// Sets FFmpeg's log level once per process: fatal only, or $TSN_FFMPEG_LOGLEVEL
/// (quiet, fatal, error, warning, info, verbose, debug). Every reader and writer calls it.
void initLogging();

[[noreturn]] void throwAvError(const char* expr, int code, const std::string& context,
                               const char* file, int line);

}  // namespace tsn::av

/// TSN_CHECK_AV(call, path): throws tsn::Error with the path, the call and FFmpeg's message when
/// call returns a negative AVERROR.
#define TSN_CHECK_AV(expr, context)                                              \
  do {                                                                           \
    const int tsnAvCode_ = (expr);                                               \
    if (tsnAvCode_ < 0) {                                                        \
      ::tsn::av::throwAvError(#expr, tsnAvCode_, (context), __FILE__, __LINE__); \
    }                                                                            \
  } while (false)
