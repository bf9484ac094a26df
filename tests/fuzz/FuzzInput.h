#pragma once
/// @file What the fuzz targets share: the readers under test take file paths, so each input is
/// written to one scratch file per process first.

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace tsn::fuzz {

/// A file path private to this process, in $TMPDIR (or /tmp), with extension `ext`.
inline std::string scratchFile(const std::string& name, const std::string& ext) {
  const char* dir = std::getenv("TMPDIR");
  const std::filesystem::path root = dir != nullptr && *dir != '\0' ? dir : "/tmp";
  return (root / (name + "." + std::to_string(getpid()) + ext)).string();
}

/// Writes `size` bytes to `path`, replacing it; aborts if it cannot (a broken harness, not a
/// finding).
inline void writeInput(const std::string& path, const uint8_t* data, size_t size) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr || (size > 0 && std::fwrite(data, 1, size, f) != size) || std::fclose(f) != 0) {
    std::perror(path.c_str());
    std::abort();
  }
}

}  // namespace tsn::fuzz
