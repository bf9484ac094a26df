#include "support/CliTest.h"

#include <chrono>

namespace tsn::testing {

CliTest::CliTest(std::string prefix, int classes, int videosPerClass, int frames, int gop)
    : prefix_(std::move(prefix)),
      classes_(classes),
      videosPerClass_(videosPerClass),
      frames_(frames),
      gop_(gop) {}

void CliTest::SetUp() {
  dir_ = std::make_unique<TempDir>(prefix_ + "_" +
                                   ::testing::UnitTest::GetInstance()->current_test_info()->name());
  data_ = syntheticDataset(dir_->path() / "data", classes_, videosPerClass_, frames_, gop_);
}

CommandResult CliTest::mpirun(const std::string& args, double* seconds) const {
  const auto start = std::chrono::steady_clock::now();
  auto r = run(std::string(TSN_MPIEXEC) +
               " --oversubscribe --bind-to none --allow-run-as-root -x OMP_NUM_THREADS=1 " + args);
  if (seconds) {
    *seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  return r;
}

}  // namespace tsn::testing
