#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>

#include <nlohmann/json.hpp>

#include "checkpoint/Checkpoint.h"
#include "distributed/OpenMpiSettings.h"
#include "support/CliTest.h"

namespace tsn {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class DistributedCli : public testing::CliTest {
 protected:
  DistributedCli() : CliTest("mpi_cli", 2, 6, 20, 10) {}

  std::filesystem::path config(const std::string& extra = "") {
    const auto file = dir_->path() / "run.toml";
    testing::writeFile(file, fmt::format(R"([model]
backbone = "resnet18"
width = 4
num_classes = 2
{0}[train]
epochs = 2
batch_size = 2
lr = 0.01
log_interval = 1
work_dir = "{1}"
{2}
)",
                                         testing::syntheticDataSection(data_),
                                         (dir_->path() / "work").string(), extra));
    return file;
  }
};

TEST_F(DistributedCli, TwoRanksTrainWithAveragedGradientsAndAFilePerRank) {
  // Plain mpirun: each rank applies tsn-dist's Open MPI settings itself, but one the environment
  // sets (here through mpirun -x) wins; the start log says which is which and what Open MPI
  // has in force.
  const auto r = mpirun("-np 2 -x OMPI_MCA_btl_tcp_sndbuf=1048576 " + testing::binary("tsn_dist") +
                        " --config " + config().string());
  ASSERT_EQ(r.exitCode, 0) << r.output;
  const auto& defaults = openMpiDefaults();
  ASSERT_GE(defaults.size(), 3u);
  for (const char* rankLog : {"work/logs/rank0.log", "work/logs/rank1.log"}) {
    std::ifstream in(dir_->path() / rankLog);
    const std::string log{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    for (const auto& [name, value] : defaults) {
      const std::string expected =
          name == "btl_tcp_sndbuf"
              ? "btl_tcp_sndbuf = 1048576 (environment (OMPI_MCA_btl_tcp_sndbuf); in force: "
                "1048576)"
              : fmt::format("{} = {} (tsn-dist default; in force: {})", name, value, value);
      EXPECT_THAT(log, HasSubstr(expected)) << rankLog;
    }
  }
  EXPECT_THAT(r.output, HasSubstr("batch 2 per rank x 2 ranks = global batch 4"));
  EXPECT_THAT(r.output, HasSubstr("gradients averaged over 2 ranks"));
  EXPECT_THAT(r.output, HasSubstr("final validation: top1"));
  EXPECT_THAT(r.output, Not(HasSubstr("[rank 1] [train] info")));  // rank 0 talks
  EXPECT_TRUE(std::filesystem::exists(dir_->path() / "work/logs/rank0.log"));
  EXPECT_TRUE(std::filesystem::exists(dir_->path() / "work/logs/rank1.log"));
}

// Rank 1 reads its videos slowly (an LD_PRELOAD library delays every demuxed packet): every
// training window must name it as the slowest rank, waiting for data, while rank 0 spends that
// time waiting in the gradient all-reduce.
TEST_F(DistributedCli, ASlowRankIsNamedAsTheStragglerWithItsCause) {
  const std::string rankCommand = fmt::format(
      "if [ \"$OMPI_COMM_WORLD_RANK\" = 1 ]; then export LD_PRELOAD={} "
      "TSN_SLOW_DECODE_MS=10; fi; exec {} --config {}",
      TSN_SLOW_DECODE_LIBRARY, testing::binary("tsn_dist"), config().string());
  const auto r = mpirun("-np 2 sh -c '" + rankCommand + "'");
  ASSERT_EQ(r.exitCode, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("slowest rank 1: data +"));
  std::ifstream in(dir_->path() / "work" / "metrics.jsonl");
  int windows = 0;
  for (std::string line; std::getline(in, line);) {
    const auto record = nlohmann::json::parse(line);
    if (record["mode"] != "train") continue;
    ++windows;
    SCOPED_TRACE(line);
    EXPECT_EQ(record["slowest_rank"], 1);
    EXPECT_EQ(record["slowest_cause"], "data_wait_s");
    const auto& perRank = record["step_time_per_rank"];
    EXPECT_GT(perRank["data_wait_s"][1].get<double>(), perRank["data_wait_s"][0].get<double>());
    EXPECT_GT(perRank["allreduce_wait_s"][0].get<double>(),
              perRank["allreduce_wait_s"][1].get<double>());
    EXPECT_TRUE(record.contains("eta_run_s"));
  }
  EXPECT_GE(windows, 4);
}

TEST_F(DistributedCli, AFailingRankEndsTheWholeJobQuickly) {
  // One unreadable video and no tolerance for it: the rank whose shard holds it fails at the
  // end of the epoch while the other waits in a collective; the job must end, not hang.
  testing::writeFile(data_ / "bad.mp4", "not a video");
  testing::writeFile(
      dir_->path() / "train_bad.list",
      "bad.mp4 0\nvideos/class_00/class_00_0002.mp4 0\nvideos/class_00/class_00_0003.mp4 0\n"
      "videos/class_01/class_01_0002.mp4 1\n");
  double seconds = 0;
  const auto r =
      mpirun("-np 2 " + testing::binary("tsn_dist") + " --config " + config("").string() +
                 " --set data.train_list=" + (dir_->path() / "train_bad.list").string() +
                 " --set data.max_bad_fraction=0",
             &seconds);
  EXPECT_NE(r.exitCode, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("more than data.max_bad_fraction=0"));
  EXPECT_LT(seconds, 30.0);
}

TEST_F(DistributedCli, RanksWithDifferentConfigsAreRefusedBeforeStepOne) {
  const std::string run = testing::binary("tsn_dist") + " --config " + config().string();
  const auto r = mpirun("-np 1 " + run + " : -np 1 " + run + " --set train.seed=5");
  EXPECT_NE(r.exitCode, 0);
  EXPECT_THAT(r.output, HasSubstr("rank 1 differs from rank 0 in its resolved config"));
  EXPECT_THAT(r.output, Not(HasSubstr("step 1/")));
}

TEST_F(DistributedCli, TheMpirunWrapperStartsTheRequestedRanksThroughTsnBind) {
  const std::string wrapper = std::string(TSN_SOURCE_DIR) + "/launcher/tsn_mpirun";
  const auto dry = testing::run("OMPI_MCA_btl_tcp_sndbuf=1000 " + wrapper +
                                " --gpus-per-node 8 --hosts a,b --cpus-per-rank 6 --net-if eth1 "
                                "--dry-run -- --config c.toml");
  ASSERT_EQ(dry.exitCode, 0) << dry.output;
  for (const char* part :
       {"-np 16", "--map-by ppr:8:node --bind-to none", "TSN_BIND=core", "TSN_CPUS_PER_RANK=6",
        "launcher/tsn_bind", "CUDA_DEVICE_ORDER=PCI_BUS_ID", "NCCL_SOCKET_IFNAME=eth1",
        "btl_tcp_if_include eth1", "--config c.toml",
        // Across nodes, launcher/multinode.mca's settings; a user's own value wins.
        "OMPI_MCA_coll_libnbc_iallreduce_algorithm=1", "OMPI_MCA_btl_tcp_sndbuf=1000"}) {
    EXPECT_THAT(dry.output, HasSubstr(part));
  }
  // Nodes that share their cores (emulated ones) are not bound; one node needs no TCP settings.
  // (Where each rank is bound: python.test_binding.)
  const auto unbound = testing::run(wrapper + " --ranks-per-node 2 --bind none --dry-run -- x");
  EXPECT_THAT(unbound.output, HasSubstr("TSN_BIND=none"));
  EXPECT_THAT(unbound.output, Not(HasSubstr("OMPI_MCA_coll_libnbc")));
  const auto r =
      testing::run(wrapper + " --ranks-per-node 2 --binary " + testing::binary("tsn_dist") +
                   " -- --config " + config().string() + " --set train.epochs=1");
  ASSERT_EQ(r.exitCode, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("x 2 ranks = global batch 4"));
}

TEST_F(DistributedCli, AllReduceBenchmarkReportsBothWaysAsJson) {
  const auto r = mpirun("-np 2 " + testing::binary("tsn_bench") +
                        " allreduce --backbone resnet18 --iters 2 --bucket-mb 5 --size 32");
  ASSERT_EQ(r.exitCode, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  EXPECT_EQ(j["ranks"], 2);
  // ResNet-18 without its fc: 11,176,512 parameters; the 400-way head: 205,200. In float32:
  // 45.53 MB, in 5 MB buckets.
  EXPECT_GT(j["buckets"].get<int>(), 2);
  EXPECT_NEAR(j["gradient_mb"].get<double>(), 11381712 * 4 / 1e6, 1e-6);
  EXPECT_GT(j["contiguous_gb_per_s"].get<double>(), 0);
  EXPECT_GT(j["bucketed_gb_per_s"].get<double>(), 0);
  EXPECT_GE(j["communication_hidden_share"].get<double>(), 0);
  EXPECT_LE(j["communication_hidden_share"].get<double>(), 1);
}

/// The newest checkpoint of a work dir.
Checkpoint newest(const std::filesystem::path& workDir);

// And deterministic: with dropout (random masks drawn from the run's seed and the rank), two
// debug runs end with bitwise the same weights.
TEST_F(DistributedCli, DebugModeStopsAfterMaxStepsWithALinePerStep) {
  std::vector<Checkpoint> ends;
  for (int run = 0; run < 2; ++run) {
    const auto r = testing::run(testing::binary("tsn_dist") + " --config " + config().string() +
                                " --debug --max-steps 3 --set model.dropout=0.5");
    ASSERT_EQ(r.exitCode, 0) << r.output;
    EXPECT_THAT(r.output, HasSubstr("step 3/"));
    EXPECT_THAT(r.output, Not(HasSubstr("step 4/")));
    EXPECT_THAT(r.output, HasSubstr("stopped after train.max_steps=3 steps"));
    ends.push_back(newest(dir_->path() / "work"));
  }
  for (const auto& [name, t] : ends[0].model) {
    EXPECT_TRUE(torch::equal(t, ends[1].model.at(name))) << name << " differs between debug runs";
  }
}

TEST_F(DistributedCli, DebugModeNamesTheFirstNonFiniteValue) {
  const auto r = testing::run(testing::binary("tsn_dist") + " --config " + config().string() +
                              " --debug --max-steps 5 --set train.lr=1e30");
  EXPECT_EQ(r.exitCode, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("(train.check_finite)"));
}

/// The newest checkpoint of a work dir.
Checkpoint newest(const std::filesystem::path& workDir) {
  const auto files = CheckpointStore(workDir, 1).list();
  EXPECT_FALSE(files.empty()) << "no checkpoint in " << workDir;
  return readCheckpoint(files.at(0));
}

void expectBitwiseEqual(const StateDict& a, const StateDict& b, const char* what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (const auto& [name, t] : a) {
    ASSERT_TRUE(b.count(name)) << what << " " << name;
    EXPECT_TRUE(torch::equal(t, b.at(name))) << what << " " << name << " differs";
  }
}

// Dropout on, 2 ranks, a checkpoint every 3 steps: stop one step before the end of the second
// epoch at a step that has no checkpoint in the uninterrupted run, resume with --resume auto,
// and end with the very parameters (and BatchNorm statistics) of a run never interrupted. The
// stop's checkpoint must not change the run: a rounding it made would outlive one step.
TEST_F(DistributedCli, StoppedMidEpochAndResumedEqualsAnUninterruptedRunBitwise) {
  const auto cfg = config("[checkpoint]\ninterval_iters = 3\nkeep_last = 2").string();
  const auto whole = dir_->path() / "whole", parts = dir_->path() / "parts";
  const std::string run =
      "-np 2 " + testing::binary("tsn_dist") + " --config " + cfg + " --set train.batch_size=1";
  auto r = mpirun(run + " --set train.work_dir=" + whole.string());
  ASSERT_EQ(r.exitCode, 0) << r.output;
  const Checkpoint reference = newest(whole);
  ASSERT_EQ(reference.epoch, 2);
  const int64_t stepsPerEpoch = reference.step / 2;
  ASSERT_GE(stepsPerEpoch, 3);
  int64_t stopAt = 2 * stepsPerEpoch - 1;  // inside epoch 2
  if (stopAt % 3 == 0) --stopAt;           // not a step of interval_iters

  r = mpirun(run + " --set train.work_dir=" + parts.string() +
             fmt::format(" --set train.max_steps={}", stopAt));
  ASSERT_EQ(r.exitCode, 0) << r.output;
  const Checkpoint stopped = newest(parts);
  EXPECT_EQ(stopped.step, stopAt);
  EXPECT_EQ(stopped.epoch, 1);
  EXPECT_EQ(stopped.iter, stopAt - stepsPerEpoch);
  EXPECT_EQ(stopped.rngCpu.size(0), 2);  // both ranks' random state
  // Both ranks' own BatchNorm statistics (they saw other clips), and their mean in the model.
  const auto& means = stopped.rankBuffers.at("backbone.bn1.running_mean");
  EXPECT_EQ(means.size(0), 2);
  EXPECT_FALSE(torch::equal(means[0], means[1]));
  EXPECT_TRUE(torch::allclose(stopped.model.at("backbone.bn1.running_mean"), means.mean(0)));

  r = mpirun(run + " --set train.work_dir=" + parts.string() + " --resume auto");
  ASSERT_EQ(r.exitCode, 0) << r.output;
  EXPECT_THAT(r.output,
              HasSubstr(fmt::format("epoch 2 batch {}, step {}", stopAt - stepsPerEpoch, stopAt)));
  const Checkpoint resumed = newest(parts);
  EXPECT_EQ(resumed.step, reference.step);
  expectBitwiseEqual(reference.model, resumed.model, "model");
  expectBitwiseEqual(reference.momentum, resumed.momentum, "momentum");
  EXPECT_LE(CheckpointStore(parts, 2).list().size(), 2u);  // keep_last
  EXPECT_TRUE(std::filesystem::exists(parts / "checkpoints/best.pt"));

  // One rank can take over a two-rank checkpoint: allowed, with a warning.
  const auto single = dir_->path() / "single";
  std::filesystem::create_directories(single / "checkpoints");
  std::filesystem::copy_file(CheckpointStore(parts, 2).list().back(),
                             single / "checkpoints" / "e001_s0000001.pt");
  r = testing::run(testing::binary("tsn_dist") + " --config " + cfg +
                   " --set train.work_dir=" + single.string() + " --resume auto");
  ASSERT_EQ(r.exitCode, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("written by 2 ranks, resumed on 1"));
}

TEST_F(DistributedCli, ABadCheckpointIsRefusedBeforeAnyWork) {
  const auto cfg = config().string();
  testing::writeFile(dir_->path() / "junk.pt", "junk");
  auto r = testing::run(testing::binary("tsn_dist") + " --config " + cfg + " --resume " +
                        (dir_->path() / "junk.pt").string());
  EXPECT_EQ(r.exitCode, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("junk.pt: unreadable checkpoint"));
  EXPECT_FALSE(std::filesystem::exists(dir_->path() / "work"));

  // A checkpoint of 2 classes on a 3-class config: refused, --finetune suggested; with
  // --finetune it trains a new classifier.
  r = testing::run(
      testing::binary("tsn_dist") + " --config " + cfg +
      " --set train.max_steps=1 --set train.work_dir=" + (dir_->path() / "two").string());
  ASSERT_EQ(r.exitCode, 0) << r.output;
  const auto ckpt = CheckpointStore(dir_->path() / "two", 1).list().at(0).string();
  r = testing::run(testing::binary("tsn_dist") + " --config " + cfg +
                   " --set model.num_classes=3 --resume " + ckpt);
  EXPECT_EQ(r.exitCode, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("checkpoint has 2 classes, this config 3"));
  r = testing::run(testing::binary("tsn_dist") + " --config " + cfg +
                   " --set model.num_classes=3 --set train.max_steps=1 --set train.work_dir=" +
                   (dir_->path() / "three").string() + " --finetune " + ckpt);
  ASSERT_EQ(r.exitCode, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("new classifier: head.fc.weight, head.fc.bias"));
}

}  // namespace
}  // namespace tsn
