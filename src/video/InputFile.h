#pragma once
/// @file What a reader may open: regular files only.
///
/// open() of a named pipe blocks until a writer appears, a device or a socket can block any
/// read; no deadline inside FFmpeg or OpenCV can end such a call. A path is checked with stat()
/// (which does not open it) before any reader opens it.

#include <string>

#include "video/AvError.h"

namespace tsn {

/// Throws VideoError unless `path` is a regular file, symbolic links followed: `ifMissing` when
/// it does not exist, NotARegularFile naming what it is (and why that is refused) otherwise.
void requireRegularFile(const std::string& path,
                        VideoFailure ifMissing = VideoFailure::MissingFile);

/// The same for a directory of frame images (rawframes).
void requireDirectory(const std::string& path);

}  // namespace tsn
