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

/// A program running in the background, in a process group of its own (so that a test can
/// signal it and everything it started), its output going to a file. The destructor kills
/// the group if it still runs.
class Background {
 public:
  Background(const std::string& command, const std::filesystem::path& output);
  ~Background();
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;

  /// Sends `signal` to the program (not its group).
  void signal(int signal) const;
  /// Waits up to `seconds` for it to end; its wait status, or -1 if it still runs.
  int waitFor(double seconds);
  /// What it printed so far.
  std::string output() const;
  /// Waits up to `seconds` for its output to contain `text`; false if it did not (or it ended
  /// without printing it).
  bool waitForOutput(const std::string& text, double seconds);
  int pid() const { return pid_; }

 private:
  int pid_ = -1;
  bool ended_ = false;
  std::filesystem::path output_;
};

/// Waits up to `seconds` for `path` to exist.
bool waitForFile(const std::filesystem::path& path, double seconds);

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
