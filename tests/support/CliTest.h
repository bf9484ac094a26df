#pragma once
/// @file The fixture of tests that run the programs: a temporary directory named after the
/// test, a small synthetic data set in it, and the mpirun this machine needs.

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>

#include "support/TestSupport.h"

namespace tsn::testing {

class CliTest : public ::testing::Test {
 protected:
  /// `prefix` names the directories; the data set has `classes` x `videosPerClass` videos of
  /// `frames` frames (GOP `gop`).
  CliTest(std::string prefix, int classes, int videosPerClass, int frames = 20, int gop = 10);
  void SetUp() override;

  /// mpirun with the flags this machine needs (oversubscribed, as root, one thread per rank),
  /// then `args`; `*seconds` gets how long it ran.
  CommandResult mpirun(const std::string& args, double* seconds = nullptr) const;

  std::unique_ptr<TempDir> dir_;
  std::filesystem::path data_;

 private:
  std::string prefix_;
  int classes_, videosPerClass_, frames_, gop_;
};

}  // namespace tsn::testing
