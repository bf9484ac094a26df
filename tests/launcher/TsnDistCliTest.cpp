#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/mount.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "support/CliTest.h"

namespace tsn {
namespace {

using ::testing::HasSubstr;

class TsnDistCli : public testing::CliTest {
 protected:
  TsnDistCli() : CliTest("cli", 3, 4, 20, 10) {}

  /// A valid config for the small data set, with `extra` appended to [train].
  std::string config(const std::string& extraTrain = "", const std::string& valList = "") {
    return fmt::format(R"([model]
backbone = "resnet18"
width = 8
num_classes = 3
[data]
root = "{0}"
train_list = "{0}/train.list"
val_list = "{1}"
short_size = 40
target_size = 32
workers = 1
[train]
epochs = 2
batch_size = 4
lr = 0.01
work_dir = "{2}"
{3}
)",
                       data_.string(), valList.empty() ? (data_ / "val.list").string() : valList,
                       workDir().string(), extraTrain);
  }
  std::filesystem::path workDir() const { return dir_->path() / "work"; }

  testing::CommandResult runWith(const std::string& text, const std::string& args = "") {
    const auto file = dir_->path() / "run.toml";
    testing::writeFile(file, text);
    return testing::run(testing::binary("tsn_dist") + " --config " + file.string() + " " + args);
  }
};

/// Exit code 2, one line, and nothing created: the config was refused before any work.
void expectRefused(const testing::CommandResult& r, const std::filesystem::path& workDir,
                   const std::string& what) {
  EXPECT_EQ(r.exitCode, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr(what));
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  EXPECT_FALSE(std::filesystem::exists(workDir)) << "work started despite a bad config";
}

TEST(TsnDistVersion, SaysWhichLibTorchAndWhetherItSeesAGpu) {
  for (const char* program : {"tsn_dist", "tsn_eval", "tsn_infer"}) {
    const auto r = testing::run(testing::binary(program) + " --version");
    EXPECT_EQ(r.exitCode, 0) << r.output;
    EXPECT_THAT(r.output,
                ::testing::MatchesRegex(std::string(program) +
                                        " [0-9.]+ \\(LibTorch [0-9.]+.*, (CPU build|CUDA "
                                        "build, NCCL [0-9.]+); [0-9]+ GPUs? visible\\)\n"));
  }
}

TEST_F(TsnDistCli, UnknownKeyIsRefusedNamingFileLineAndKey) {
  const auto r = runWith(config("epochz = 3"));
  expectRefused(
      r, workDir(),
      "run.toml:17: train.epochz: unknown key 'epochz' in [train] (did you mean 'epochs'?)");
}

TEST_F(TsnDistCli, WrongTypeIsRefused) {
  const auto r = runWith(config("seed = \"zero\""));
  expectRefused(r, workDir(), "run.toml:17: train.seed: expected an integer, got string \"zero\"");
}

TEST_F(TsnDistCli, MissingListFileIsRefusedNamingThePath) {
  const auto r = runWith(config("", "/no/such/val.list"));
  expectRefused(r, workDir(), "run.toml:8: data.val_list: file not found: /no/such/val.list");
}

TEST_F(TsnDistCli, BadOverrideIsRefused) {
  const auto r = runWith(config(), "--set train.lr=-1");
  expectRefused(r, workDir(), "--set train.lr=-1: train.lr: must be > 0, got -1");
}

TEST_F(TsnDistCli, MalformedListLineIsRefused) {
  const auto list = dir_->path() / "broken.list";
  testing::writeFile(list, "videos/a.mp4 0\nvideos/b.mp4 zero\n");
  const auto r = runWith(config("", list.string()));
  expectRefused(r, workDir(), list.string() + ":2: expected 'path label'");
}

// This machine has no GPU (and the default build no CUDA): the NCCL backend is refused up front.
TEST_F(TsnDistCli, NcclBackendWithoutAGpuIsRefused) {
  const auto r = runWith(config(), "--set dist.backend=nccl");
  expectRefused(r, workDir(), "dist.backend: nccl needs a");
}

TEST_F(TsnDistCli, Fp16WithoutAGpuIsRefused) {
  const auto r = runWith(config(), "--set train.precision=fp16");
  expectRefused(r, workDir(), "train.precision: fp16 needs a GPU");
}

TEST_F(TsnDistCli, UnreadablePretrainedWeightsAreRefused) {
  const auto bogus = dir_->path() / "weights.pt";
  testing::writeFile(bogus, "not weights");
  const auto r = runWith(config(), "--set model.pretrained=" + bogus.string());
  expectRefused(r, workDir(), bogus.string() + ": not a torch.save file");
}

TEST_F(TsnDistCli, TrainsAndWritesConfigLogsAndMetrics) {
  const auto r = runWith(config(), "--set train.log_interval=1");
  ASSERT_EQ(r.exitCode, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("final validation: top1 "));
  EXPECT_THAT(r.output, HasSubstr("[rank 0] [train]"));
  ASSERT_TRUE(std::filesystem::exists(workDir() / "config.toml"));
  ASSERT_TRUE(std::filesystem::exists(workDir() / "logs" / "rank0.log"));
  ASSERT_TRUE(std::filesystem::exists(workDir() / "metrics.jsonl"));
  std::ifstream resolved(workDir() / "config.toml");
  const std::string text((std::istreambuf_iterator<char>(resolved)),
                         std::istreambuf_iterator<char>());
  EXPECT_THAT(text, HasSubstr("log_interval = 1"));       // the override is in the resolved config
  EXPECT_THAT(text, HasSubstr("lr_decay_epochs = [1]"));  // and the resolved defaults
}

// TensorBoard's own reader finds, at each logged step, the figures metrics.jsonl has.
TEST_F(TsnDistCli, WritesTensorBoardEventsThatTensorBoardReads) {
  const auto r = runWith(config(), "--set train.log_interval=1");
  ASSERT_EQ(r.exitCode, 0) << r.output;
  const auto read = testing::run(fmt::format(
      "PYTHONPATH={} python3 {}/tests/launcher/read_tensorboard.py {}", TSN_TENSORBOARD_PYTHONPATH,
      TSN_SOURCE_DIR, (workDir() / "tensorboard").string()));
  if (read.exitCode == 77) GTEST_SKIP() << read.output;
  ASSERT_EQ(read.exitCode, 0) << read.output;
  const auto scalars = nlohmann::json::parse(read.output);
  std::ifstream in(workDir() / "metrics.jsonl");
  int checked = 0;
  for (std::string line; std::getline(in, line);) {
    const auto record = nlohmann::json::parse(line);
    const std::string mode = record["mode"];
    if (mode != "train" && mode != "val") continue;
    std::vector<std::pair<std::string, double>> expected;
    for (const char* key : {"loss", "top1", "top5", "lr", "clips_per_s"}) {
      if (record.contains(key)) expected.emplace_back(mode + "/" + key, record[key].get<double>());
    }
    if (mode == "train") {
      for (const auto& [key, value] : record["step_time"].items()) {
        expected.emplace_back("train/step_time/" + key, value.get<double>());
      }
    }
    for (const auto& [tag, value] : expected) {
      SCOPED_TRACE(tag);
      ASSERT_TRUE(scalars.contains(tag)) << read.output;
      bool found = false;
      for (const auto& point : scalars[tag]) {
        if (point[0] == record["step"]) {
          EXPECT_NEAR(point[1].get<double>(), value, 1e-6 * std::max(1.0, std::abs(value)));
          found = true;
        }
      }
      EXPECT_TRUE(found) << "no point at step " << record["step"];
      ++checked;
    }
  }
  EXPECT_GE(checked, 6 * 10);  // 2 epochs of 3 windows, 10 figures each (and 2 validations)
}

/// A small tmpfs mounted for one test (root only; nullopt elsewhere) and unmounted after.
class Tmpfs {
 public:
  static std::unique_ptr<Tmpfs> mount(const std::filesystem::path& dir,
                                      const std::string& options) {
    std::filesystem::create_directories(dir);
    if (::mount("tmpfs", dir.c_str(), "tmpfs", 0, options.c_str()) != 0) return nullptr;
    return std::unique_ptr<Tmpfs>(new Tmpfs(dir));
  }
  ~Tmpfs() { ::umount2(dir_.c_str(), MNT_DETACH); }
  /// Sets the size limit (bytes) of the mounted file system.
  bool resize(uint64_t bytes) {
    return ::mount("tmpfs", dir_.c_str(), "tmpfs", MS_REMOUNT,
                   fmt::format("size={}", bytes).c_str()) == 0;
  }

 private:
  explicit Tmpfs(std::filesystem::path dir) : dir_(std::move(dir)) {}
  std::filesystem::path dir_;
};

uint64_t bytesUnder(const std::filesystem::path& dir) {
  uint64_t total = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) total += e.file_size();
  }
  return total;
}

std::string latestName(const std::filesystem::path& workDir) {
  std::ifstream in(workDir / "checkpoints" / "latest");
  std::string name;
  in >> name;
  return name;
}

TEST_F(TsnDistCli, AWorkDirThatCannotBeWrittenIsRefusedBeforeAnyWork) {
  // A file where a directory must be.
  testing::writeFile(dir_->path() / "file", "x");
  const auto underFile = dir_->path() / "file" / "work";
  auto r = runWith(config(), "--set train.work_dir=" + underFile.string());
  expectRefused(r, underFile, "train.work_dir: cannot create " + underFile.string());
  EXPECT_THAT(r.output, HasSubstr("is not a directory"));

  // A read-only file system (a read-only tmpfs; root bypasses permission bits).
  const auto readOnly = dir_->path() / "ro";
  const auto mounted = Tmpfs::mount(readOnly, "ro,size=1m");
  if (!mounted) GTEST_SKIP() << "cannot mount a tmpfs here (not root): read-only case not run";
  r = runWith(config(), "--set train.work_dir=" + (readOnly / "work").string());
  expectRefused(r, readOnly / "work", "cannot write in " + readOnly.string());
  EXPECT_THAT(r.output, HasSubstr(std::strerror(EROFS)));
}

// The disk fills between two checkpoints: the run stops with exit code 74 and a message naming
// the checkpoint, `latest` still names the previous checkpoint, which resumes once there is room.
TEST_F(TsnDistCli, AFullDiskStopsTheRunAndKeepsTheLastCheckpoint) {
  const auto work = workDir();
  const auto disk = Tmpfs::mount(work, "size=64m");
  if (!disk) GTEST_SKIP() << "cannot mount a tmpfs here (not root): full-disk case not run";
  const std::string text = config();  // a checkpoint at every epoch end
  // Epoch 0 (3 steps) with its checkpoint, then stop.
  auto r = runWith(text, "--max-steps 3");
  ASSERT_EQ(r.exitCode, 0) << r.output;
  const std::string first = latestName(work);
  ASSERT_FALSE(first.empty()) << r.output;
  const uint64_t checkpointBytes = std::filesystem::file_size(work / "checkpoints" / first);
  // Room for the logs to grow, not for another checkpoint.
  ASSERT_TRUE(disk->resize(bytesUnder(work) + checkpointBytes / 2));

  r = runWith(text, "--resume auto");
  EXPECT_EQ(r.exitCode, 74) << r.output;
  EXPECT_THAT(r.output, HasSubstr("tsn_dist: write error: checkpoint of step"));
  EXPECT_THAT(r.output, HasSubstr(std::strerror(ENOSPC)));
  EXPECT_THAT(r.output, HasSubstr("The last checkpoint, " +
                                  (work / "checkpoints" / first).string() + ", is intact"));
  EXPECT_EQ(latestName(work), first);
  for (const auto& e : std::filesystem::directory_iterator(work / "checkpoints")) {
    EXPECT_THAT(e.path().filename().string(), ::testing::Not(HasSubstr(".tmp-")));
  }

  // With room again the same command resumes from it and finishes.
  ASSERT_TRUE(disk->resize(64 << 20));
  r = runWith(text, "--resume auto");
  EXPECT_EQ(r.exitCode, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr(first));
  EXPECT_NE(latestName(work), first);
}

}  // namespace
}  // namespace tsn
