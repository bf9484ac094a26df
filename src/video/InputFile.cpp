#include "video/InputFile.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

namespace tsn {
namespace {

const char* kindOf(mode_t mode) {
  if (S_ISREG(mode)) return "a regular file";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a named pipe (FIFO)";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a file";
}

struct stat statOrThrow(const std::string& path, VideoFailure ifMissing) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    const int error = errno;
    throw VideoError(error == ENOENT || error == ENOTDIR ? ifMissing : VideoFailure::Other,
                     fmt::format("{}: {}", path, std::strerror(error)));
  }
  return st;
}

}  // namespace

void requireRegularFile(const std::string& path, VideoFailure ifMissing) {
  const struct stat st = statOrThrow(path, ifMissing);
  if (!S_ISREG(st.st_mode)) {
    throw VideoError(VideoFailure::NotARegularFile,
                     fmt::format("{}: is {}, not a regular file; only regular files are read (a "
                                 "pipe or a device can block a reader forever)",
                                 path, kindOf(st.st_mode)));
  }
}

void requireDirectory(const std::string& path) {
  const struct stat st = statOrThrow(path, VideoFailure::MissingFile);
  if (!S_ISDIR(st.st_mode)) {
    throw VideoError(
        VideoFailure::NotARegularFile,
        fmt::format("{}: is {}, not a directory of frame images", path, kindOf(st.st_mode)));
  }
}

}  // namespace tsn
