#pragma once
/// @file Test helpers: temporary directories, running a program, small synthetic data sets.

#include <filesystem>
#include <string>

namespace tsn::testing {

/// A fresh directory under build/test_tmp (or $TSN_TEST_TMPDIR), unique to this process,
/// removed when the object goes away.
class TempDir {
 public:
  explicit TempDir(const std::string& name);
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }
  std::string str() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

struct CommandResult {
  int exitCode = -1;
  std::string output;  ///< stdout and stderr together
};

/// Runs a shell command, capturing its output.
CommandResult run(const std::string& command);

/// Writes a text file.
void writeFile(const std::filesystem::path& path, const std::string& text);

/// Makes (once per directory) a synthetic data set with `classes` x `videosPerClass` videos of
/// `frames` frames at 160x120, GOP 10 with B-frames; returns its directory.
std::filesystem::path syntheticDataset(const std::filesystem::path& dir, int classes,
                                       int videosPerClass, int frames = 30, int gop = 10);

/// The [data] section of a config for a synthetic data set made by syntheticDataset(): its
/// lists, 40 px short side, 32 px crops, one decode worker.
std::string syntheticDataSection(const std::filesystem::path& data);

/// Path of a built program in build/bin.
std::string binary(const std::string& name);

}  // namespace tsn::testing
