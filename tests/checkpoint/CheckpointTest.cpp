#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>

#include <fstream>

#include "checkpoint/Checkpoint.h"
#include "checkpoint/SampleCheckpoint.h"
#include "support/TestSupport.h"

namespace tsn {
namespace {

using ::testing::HasSubstr;

std::filesystem::path writeAndName(const Checkpoint& c, const std::filesystem::path& file) {
  writeCheckpoint(c, file);
  return file;
}

ModelConfig modelFor(const Checkpoint& c) {
  ModelConfig m;
  m.backbone = c.backbone;
  m.numClasses = c.numClasses;
  m.width = 8;
  return m;
}

TEST(Checkpoint, RoundTripsEveryField) {
  testing::TempDir dir("ckpt_roundtrip");
  Checkpoint a = sampleCheckpoint(23, 3.0f);
  a.rngCuda = torch::arange(16, torch::kUInt8).view({2, 8});
  writeCheckpoint(a, dir.path() / "a.pt");
  const Checkpoint b = readCheckpoint(dir.path() / "a.pt");
  ASSERT_EQ(b.model.size(), a.model.size());
  for (const auto& [name, t] : a.model) EXPECT_TRUE(torch::equal(b.model.at(name), t)) << name;
  EXPECT_TRUE(torch::equal(b.momentum.at("head.fc.weight"), a.momentum.at("head.fc.weight")));
  EXPECT_EQ(b.epoch, 2);
  EXPECT_EQ(b.iter, 3);
  EXPECT_EQ(b.step, 23);
  EXPECT_EQ(b.baseLr, 0.01);
  EXPECT_EQ(b.lrScale, 2);
  EXPECT_EQ(b.lossScale, 1024);
  EXPECT_EQ(b.lossScaleGoodSteps, 7);
  EXPECT_TRUE(torch::equal(b.rngCpu, a.rngCpu));
  EXPECT_TRUE(torch::equal(b.rngCuda, a.rngCuda));
  EXPECT_FALSE(
      readCheckpoint(writeAndName(sampleCheckpoint(1), dir.path() / "cpu.pt")).rngCuda.defined());
  EXPECT_EQ(b.config, a.config);
  EXPECT_EQ(b.configHash, a.configHash);
  EXPECT_EQ(b.worldSize, 2);
  EXPECT_EQ(b.metrics["best_top1"], 0.5);
  EXPECT_NO_THROW(checkCheckpointFits(b, modelFor(b), "a.pt"));
  // model.pretrained reads the same file (its "model" entry).
  EXPECT_EQ(readStateDict((dir.path() / "a.pt").string()).size(), 3u);
}

TEST(Checkpoint, EachKindOfBadCheckpointGivesOneClearError) {
  testing::TempDir dir("ckpt_bad");
  writeCheckpoint(sampleCheckpoint(5), dir.path() / "good.pt");
  std::ifstream in(dir.path() / "good.pt", std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  testing::writeFile(dir.path() / "truncated.pt", bytes.substr(0, bytes.size() / 2));
  testing::writeFile(dir.path() / "text.pt", "hello");
  c10::impl::GenericDict plain(c10::StringType::get(), c10::AnyType::get());
  plain.insert("conv1.weight", torch::zeros({2}));
  const auto pickled = torch::pickle_save(plain);
  testing::writeFile(dir.path() / "state_dict.pt", std::string(pickled.begin(), pickled.end()));

  const auto expectError = [&](const std::string& file, const std::string& what) {
    const auto path = (dir.path() / file).string();
    EXPECT_THAT([&] { readCheckpoint(path); },
                ::testing::ThrowsMessage<CheckpointError>(
                    ::testing::AllOf(HasSubstr(path + ": "), HasSubstr(what))));
  };
  expectError("truncated.pt", "unreadable checkpoint (truncated, or not a torch.save file)");
  expectError("text.pt", "unreadable checkpoint");
  expectError("state_dict.pt", "not a tsn-dist checkpoint: has no 'format'");
  expectError("missing.pt", "cannot open checkpoint");
  // Length fields the fuzzer damaged: refused before LibTorch's unpickler allocates (and
  // zero-fills) what they announce.
  const std::string found =
      std::string(TSN_SOURCE_DIR) + "/tests/fuzz/regressions/fuzz_checkpoint/";
  EXPECT_THAT([&] { readCheckpoint(found + "libtorch-unpickler-huge-length"); },
              ::testing::ThrowsMessage<CheckpointError>(
                  HasSubstr("damaged pickle: 4294967295 bytes announced")));
  EXPECT_THAT([&] { readCheckpoint(found + "libtorch-unpickler-huge-memo-index"); },
              ::testing::ThrowsMessage<CheckpointError>(
                  HasSubstr("damaged pickle: memo index 1596876899 at offset")));

  Checkpoint c = readCheckpoint(dir.path() / "good.pt");
  ModelConfig other = modelFor(c);
  other.backbone = "resnet50";
  EXPECT_THAT([&] { checkCheckpointFits(c, other, "good.pt"); },
              ::testing::ThrowsMessage<CheckpointError>(HasSubstr(
                  "good.pt: checkpoint of a resnet18 model; this config builds a resnet50")));
  other = modelFor(c);
  other.numClasses = 7;
  EXPECT_THAT([&] { checkCheckpointFits(c, other, "good.pt"); },
              ::testing::ThrowsMessage<CheckpointError>(
                  HasSubstr("checkpoint has 5 classes, this config 7 (to train a new classifier "
                            "on top of it: --finetune)")));
  other = modelFor(c);
  other.width = 16;
  EXPECT_THAT([&] { checkCheckpointFits(c, other, "good.pt"); },
              ::testing::ThrowsMessage<CheckpointError>(HasSubstr("width 8; this config has 16")));
}

TEST(CheckpointStore, KeepsTheLastNAndTheBestAndSkipsACorruptNewest) {
  testing::TempDir dir("ckpt_store");
  CheckpointStore store(dir.path(), 2);
  store.commit(sampleCheckpoint(10, 1), /*best=*/true);
  store.commit(sampleCheckpoint(20, 2), false);
  const auto third = store.commit(sampleCheckpoint(30, 3), false);
  const auto files = store.list();
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0].filename(), "e003_s0000030.pt");
  EXPECT_EQ(files[1].filename(), "e002_s0000020.pt");
  EXPECT_EQ(readCheckpoint(store.dir() / "best.pt").step, 10);
  std::ifstream latest(store.dir() / "latest");
  std::string name;
  latest >> name;
  EXPECT_EQ(name, "e003_s0000030.pt");

  testing::writeFile(third, "garbage");  // the newest is damaged
  std::vector<std::string> skipped;
  const auto found = store.newestValid(&skipped);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->second.step, 20);
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_THAT(skipped[0], HasSubstr("e003_s0000030.pt: unreadable checkpoint"));
}

// A process killed anywhere in a save leaves a checkpoint that loads: the previous one before
// the rename, the new one after it. Never none, never a torn file.
TEST(CheckpointStore, AProcessKilledMidSaveLeavesALoadableCheckpoint) {
  for (const std::string point : {"temp-written", "synced", "renamed", "latest-written"}) {
    SCOPED_TRACE(point);
    testing::TempDir dir("ckpt_crash_" + point);
    CheckpointStore store(dir.path(), 1);
    store.commit(sampleCheckpoint(10, 1), true);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      CheckpointStore dying(dir.path(), 1, [&](std::string_view reached) {
        if (reached == point) _exit(77);
      });
      dying.commit(sampleCheckpoint(20, 2), true);
      _exit(0);  // not reached: the crash point ends the process
    }
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 77) << "the child did not stop at " << point;

    std::vector<std::string> skipped;
    const auto found = store.newestValid(&skipped);
    ASSERT_TRUE(found.has_value());
    EXPECT_TRUE(skipped.empty()) << skipped.front();
    const bool committed = point == "renamed" || point == "latest-written";
    EXPECT_EQ(found->second.step, committed ? 20 : 10);
    EXPECT_TRUE(torch::equal(found->second.model.at("head.fc.weight"),
                             torch::full({5, 16}, committed ? 2.0f : 1.0f)));
    EXPECT_NO_THROW(readCheckpoint(store.dir() / "best.pt"));
    // Retention had not run yet when it crashed: the old one is still there too.
    EXPECT_EQ(store.list().size(), committed ? 2u : 1u);
  }
}

// A disk that fills during a save (here: a file size limit, which fails write() as a full disk
// does) fails the commit with a WriteError naming the file and the reason; the previous
// checkpoint, best.pt and `latest` are untouched and no partial file is left behind.
TEST(CheckpointStore, AFullDiskFailsTheSaveAndKeepsThePreviousCheckpoint) {
  testing::TempDir dir("ckpt_full");
  Checkpoint big = sampleCheckpoint(10, 1);
  big.model["backbone.fc_big"] = torch::ones({256, 1024});  // 1 MiB
  CheckpointStore store(dir.path(), 3);
  store.commit(big, /*best=*/true);
  const auto message = dir.path() / "message.txt";
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    std::signal(SIGXFSZ, SIG_IGN);  // write() then fails with EFBIG instead of a signal
    const rlimit limit{256 * 1024, RLIM_INFINITY};
    if (setrlimit(RLIMIT_FSIZE, &limit) != 0) _exit(3);
    big.step = 20;
    big.epoch = 2;
    try {
      store.commit(big, /*best=*/true);
    } catch (const WriteError& e) {
      std::ofstream(message) << e.what();
      _exit(0);
    } catch (...) {
      _exit(4);
    }
    _exit(5);  // the save succeeded: the limit did not bite
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0) << "3: setrlimit, 4: another exception, 5: no error";
  std::ifstream in(message);
  const std::string what((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_THAT(what, HasSubstr((store.dir() / "e002_s0000020.pt").string() + ": not written"));
  EXPECT_THAT(what, HasSubstr(std::strerror(EFBIG)));
  EXPECT_THAT(what, HasSubstr("the previous file, if any, is intact"));

  std::ifstream latest(store.dir() / "latest");
  std::string name;
  latest >> name;
  EXPECT_EQ(name, "e001_s0000010.pt");
  EXPECT_EQ(readCheckpoint(store.dir() / "e001_s0000010.pt").step, 10);
  EXPECT_EQ(readCheckpoint(store.dir() / "best.pt").step, 10);
  for (const auto& entry : std::filesystem::directory_iterator(store.dir())) {
    EXPECT_THAT(entry.path().filename().string(), ::testing::Not(HasSubstr(".tmp-")))
        << "a partial file was left behind";
  }
  EXPECT_FALSE(std::filesystem::exists(store.dir() / "e002_s0000020.pt"));
}

}  // namespace
}  // namespace tsn
