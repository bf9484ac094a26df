// A file that never answers must not stop a job: files made to block inside open() or read()
// (tests/support/StallIo.cpp, loaded with LD_PRELOAD, as a stalled network file system does) and
// a named pipe in the training list; stop signals with a read stuck.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <sys/wait.h>

#include <chrono>
#include <csignal>
#include <fstream>

#include <nlohmann/json.hpp>

#include "checkpoint/Checkpoint.h"
#include "support/CliTest.h"

namespace tsn {
namespace {

using ::testing::HasSubstr;

class StuckFileCli : public testing::CliTest {
 protected:
  StuckFileCli() : CliTest("stuck", 2, 8) {}

  std::string config(const std::string& data, const std::string& train) const {
    const auto file = dir_->path() / "run.toml";
    testing::writeFile(
        file, fmt::format(R"([model]
backbone = "resnet18"
width = 4
num_classes = 2
{0}{1}
[train]
batch_size = 2
lr = 0.01
log_interval = 1
work_dir = "{2}"
{3}
)",
                          testing::syntheticDataSection(data_), data, workDir().string(), train));
    return file.string();
  }
  std::filesystem::path workDir() const { return dir_->path() / "work"; }
  std::filesystem::path stalls() const { return dir_->path() / "stalls"; }

  /// The environment that makes the files StallIo is told of block, then `command`.
  std::string stalled(const std::string& settings, const std::string& command) const {
    return fmt::format("env LD_PRELOAD={} TSN_STALL_MARK={} TSN_STALL_SECONDS=120 {} {}",
                       TSN_STALL_IO_LIBRARY, stalls().string(), settings, command);
  }

  /// The `n`-th path of the training list, as listed.
  std::string listed(int n) const {
    std::ifstream in(data_ / "train.list");
    std::string line;
    for (int i = 0; i <= n; ++i) std::getline(in, line);
    return line.substr(0, line.find(' '));
  }

  /// A stop signal while every read is stuck: the checkpoint of the steps done, exit 75,
  /// within seconds although data.decode_timeout_s would wait ten minutes; then a resume
  /// finishes. `launcher`: the command that runs tsn_dist, up to its arguments.
  void stopWithReadsStuck(const std::string& launcher);

  std::vector<nlohmann::json> records(const std::string& mode) const {
    std::vector<nlohmann::json> out;
    std::ifstream in(workDir() / "metrics.jsonl");
    for (std::string line; std::getline(in, line);) {
      auto j = nlohmann::json::parse(line);
      if (j["mode"] == mode) out.push_back(j);
    }
    return out;
  }
};

std::string describe(int status) {
  if (status == -1) return "still running";
  if (WIFSIGNALED(status)) return fmt::format("killed by signal {}", WTERMSIG(status));
  return fmt::format("exit {}", WEXITSTATUS(status));
}

TEST_F(StuckFileCli, FilesThatBlockInOpenOrReadAreAbandonedAndTheEpochFinishes) {
  // The list: the synthetic videos, one of which blocks in open(), one in read() after its
  // first 4 KiB, and a named pipe.
  ASSERT_EQ(::mkfifo((data_ / "pipe.mp4").c_str(), 0600), 0);
  std::ifstream in(data_ / "train.list");
  const std::string lines((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  testing::writeFile(dir_->path() / "train.list", lines + "pipe.mp4 0\n");
  const std::string cfg = config("decode_timeout_s = 1\nmax_bad_fraction = 0.5\n", "epochs = 2");
  const auto r = testing::run(
      stalled(fmt::format("TSN_STALL_OPEN=/{} TSN_STALL_READ=/{} TSN_STALL_READ_AFTER=4096",
                          listed(0), listed(3)),
              testing::binary("tsn_dist") + " --config " + cfg + " --set data.workers=2" +
                  " --set data.train_list=" + (dir_->path() / "train.list").string()));
  ASSERT_EQ(r.exitCode, 0) << r.output;

  // Each stuck file blocked once: after that it was never read again.
  std::ifstream marks(stalls());
  std::vector<std::string> blocked;
  for (std::string line; std::getline(marks, line);) blocked.push_back(line);
  ASSERT_EQ(blocked.size(), 2u) << r.output;
  if (blocked[0].rfind("read", 0) == 0) std::swap(blocked[0], blocked[1]);
  EXPECT_THAT(blocked[0], HasSubstr("open " + (data_ / listed(0)).string()));
  EXPECT_THAT(blocked[1], HasSubstr("read /" + listed(3)));

  // Both epochs finished with every position filled: the stuck files timed out (the second
  // epoch did not wait for them again), the pipe was refused before any open. (A replacement
  // may draw one of them again: counted again, never read again.)
  const auto data = records("data");
  ASSERT_EQ(data.size(), 2u) << r.output;
  for (const auto& epoch : data) {
    EXPECT_GE(epoch["failures_rank0"]["timed out"].get<int>(), 2) << epoch;
    EXPECT_GE(epoch["failures_rank0"]["not a regular file"].get<int>(), 1) << epoch;
    EXPECT_EQ(epoch["loaded"], 13) << epoch;  // 13 positions, every one filled
  }
  EXPECT_THAT(r.output, HasSubstr("its reading thread is stuck"));
  EXPECT_THAT(r.output, HasSubstr("not tried again in this run"));
  EXPECT_THAT(r.output, HasSubstr("pipe.mp4: is a named pipe (FIFO), not a regular file"));
  EXPECT_THAT(r.output, HasSubstr("2 abandoned reads are still stuck in a system call"));
}

void StuckFileCli::stopWithReadsStuck(const std::string& launcher) {
  const std::string cfg = config("decode_timeout_s = 600\nprefetch_batches = 1\n", "epochs = 2");
  // After 4 videos (2 batches of 2) every open of a video blocks, on every rank.
  testing::Background job(
      stalled("TSN_STALL_OPEN=.mp4 TSN_STALL_OPEN_AFTER=4", launcher + " --config " + cfg),
      dir_->path() / "job.out");
  ASSERT_TRUE(testing::waitForFile(stalls(), 120)) << job.output();
  // Step 2 logged (log_interval 1): the trainer then waits for a third batch that cannot come.
  // (The reads block as soon as batch 2 is read, which may be while step 1 still runs: a stop
  // then would take its checkpoint at step 1.)
  ASSERT_TRUE(job.waitForOutput("step 2/", 120)) << job.output();
  const auto sent = std::chrono::steady_clock::now();
  job.signal(SIGTERM);
  const int status = job.waitFor(60);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - sent).count();
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 75) << describe(status) << "\n"
                                                              << job.output();
  // The bound a user is told: the step in progress, 50 ms, the agreement and the checkpoint.
  // Seconds here; what matters is that no read is waited for.
  EXPECT_LT(seconds, 20) << job.output();
  EXPECT_THAT(job.output(), HasSubstr("stop requested (signal"));
  const auto checkpoints = CheckpointStore(workDir(), 1).list();
  ASSERT_FALSE(checkpoints.empty()) << job.output();
  EXPECT_EQ(readCheckpoint(checkpoints.back()).step, 2);

  const auto resumed = testing::run(launcher + " --config " + cfg + " --resume auto");
  ASSERT_EQ(resumed.exitCode, 0) << resumed.output;
  EXPECT_THAT(resumed.output, HasSubstr("batch 2, step 2"));
}

TEST_F(StuckFileCli, SigtermWithReadsStuckCheckpointsAndExits75) {
  stopWithReadsStuck(testing::binary("tsn_dist"));
}

TEST_F(StuckFileCli, SigtermToTheMpirunWrapperCheckpointsEveryRankAndExits75) {
  // launcher/tsn_mpirun passes SIGTERM on as SIGUSR1 (mpirun would SIGKILL the ranks a second
  // after a SIGTERM).
  stopWithReadsStuck(std::string(TSN_SOURCE_DIR) +
                     "/launcher/tsn_mpirun --ranks-per-node 2 --binary " +
                     testing::binary("tsn_dist") + " --");
}

TEST_F(StuckFileCli, AStopDuringValidationCheckpointsAndTheResumedRunValidatesFirst) {
  std::ifstream in(data_ / "val.list");
  std::string valVideo;
  in >> valVideo;
  const std::string cfg = config("decode_timeout_s = 600\n", "epochs = 2");
  testing::Background job(
      stalled("TSN_STALL_OPEN=/" + valVideo, testing::binary("tsn_dist") + " --config " + cfg),
      dir_->path() / "job.out");
  ASSERT_TRUE(testing::waitForFile(stalls(), 120)) << job.output();
  job.signal(SIGTERM);
  const int status = job.waitFor(60);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 75) << describe(status) << "\n"
                                                              << job.output();
  EXPECT_THAT(job.output(), HasSubstr("validation after epoch 1 cut short by the stop request"));
  const auto checkpoints = CheckpointStore(workDir(), 3).list();
  ASSERT_FALSE(checkpoints.empty());
  const Checkpoint stopped = readCheckpoint(checkpoints.back());
  EXPECT_EQ(stopped.epoch, 1);
  EXPECT_EQ(stopped.iter, 0);
  EXPECT_TRUE(stopped.metrics.value("validation_pending", false));
  EXPECT_TRUE(records("val").empty());  // the partial result was not recorded

  const auto resumed =
      testing::run(testing::binary("tsn_dist") + " --config " + cfg + " --resume auto");
  ASSERT_EQ(resumed.exitCode, 0) << resumed.output;
  const auto validated = resumed.output.find("validation after epoch 1:");
  ASSERT_NE(validated, std::string::npos) << resumed.output;
  EXPECT_LT(validated, resumed.output.find("epoch 2/2 step 1/")) << resumed.output;
  EXPECT_EQ(records("val").size(), 2u);
}

TEST_F(StuckFileCli, ASecondSigtermEndsTheProcessAtOnce) {
  // The stop's checkpoint blocks in open() of its temporary file: only a second SIGTERM ends it.
  const std::string cfg = config("", "epochs = 50\n[checkpoint]\ninterval_epochs = 0\n");
  testing::Background job(
      stalled("TSN_STALL_OPEN=.tmp-", testing::binary("tsn_dist") + " --config " + cfg),
      dir_->path() / "job.out");
  ASSERT_TRUE(job.waitForOutput("step 1/", 120)) << job.output();
  job.signal(SIGTERM);
  ASSERT_TRUE(testing::waitForFile(stalls(), 60)) << job.output();
  job.signal(SIGTERM);
  const int status = job.waitFor(10);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM) << describe(status) << "\n"
                                                                  << job.output();
  EXPECT_THAT(job.output(), HasSubstr("a second SIGTERM ends the process at once"));
}

}  // namespace
}  // namespace tsn
