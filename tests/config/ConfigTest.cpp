#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/Error.h"
#include "config/Config.h"
#include "support/TestSupport.h"

namespace tsn {
namespace {

using ::testing::HasSubstr;

/// The message of the ConfigError `f` throws; fails the test if it throws none.
template <class F>
std::string configError(F&& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a ConfigError";
  return "";
}

TEST(Config, EmptyFileGivesTheReferenceDefaults) {
  const Config c = parseConfig("", "empty.toml");
  EXPECT_EQ(c.model.backbone, "resnet50");
  EXPECT_EQ(c.model.segNum, 3);
  EXPECT_EQ(c.train.epochs, 45);
  EXPECT_DOUBLE_EQ(c.train.momentum, 0.9);
  EXPECT_DOUBLE_EQ(c.train.weightDecay, 1e-4);
  // LR x0.1 at 1/3 and 2/3 of the epochs.
  EXPECT_EQ(c.train.lrDecayEpochs, (std::vector<int64_t>{15, 30}));
  EXPECT_TRUE(c.origins.empty());
}

TEST(Config, DefaultDecayEpochsFollowTheEpochCount) {
  EXPECT_EQ(parseConfig("[train]\nepochs = 100\n", "x.toml").train.lrDecayEpochs,
            (std::vector<int64_t>{33, 67}));
  EXPECT_EQ(parseConfig("[train]\nepochs = 1\n", "x.toml").train.lrDecayEpochs,
            std::vector<int64_t>{});
}

TEST(Config, ValuesAreReadIntoTypedFields) {
  const Config c = parseConfig(R"(
[model]
backbone = "resnet18"
num_classes = 7
partial_bn = true
[data]
format = "rawframes"
mean = [0.5, 0.5, 0.5]
[train]
lr = 1          # an integer is accepted for a float key
lr_decay_epochs = [10, 20]
[dist]
backend = "mpi"
)",
                               "t.toml");
  EXPECT_EQ(c.model.backbone, "resnet18");
  EXPECT_EQ(c.model.numClasses, 7);
  EXPECT_TRUE(c.model.partialBn);
  EXPECT_EQ(c.data.format, DataFormat::Rawframes);
  EXPECT_EQ(c.data.mean, (std::vector<double>{0.5, 0.5, 0.5}));
  EXPECT_DOUBLE_EQ(c.train.lr, 1.0);
  EXPECT_EQ(c.train.lrDecayEpochs, (std::vector<int64_t>{10, 20}));
  EXPECT_EQ(c.dist.backend, DistBackend::Mpi);
  EXPECT_EQ(c.origins.at("train.lr"), "t.toml:10");
}

TEST(Config, UnknownKeyNamesFileLineAndClosestKey) {
  const auto msg = configError([] { parseConfig("[train]\nepochs = 3\nlrr = 0.1\n", "my.toml"); });
  EXPECT_THAT(msg, HasSubstr("my.toml:3"));
  EXPECT_THAT(msg, HasSubstr("train.lrr"));
  EXPECT_THAT(msg, HasSubstr("did you mean 'lr'"));
}

TEST(Config, UnknownSectionIsRefused) {
  const auto msg = configError([] { parseConfig("[trian]\nlr = 0.1\n", "my.toml"); });
  EXPECT_THAT(msg, HasSubstr("my.toml:1"));
  EXPECT_THAT(msg, HasSubstr("unknown section [trian]"));
  EXPECT_THAT(msg, HasSubstr("did you mean 'train'"));
}

TEST(Config, WrongTypeNamesExpectedAndActual) {
  auto msg = configError([] { parseConfig("[train]\n\nlr = \"fast\"\n", "my.toml"); });
  EXPECT_THAT(msg, HasSubstr("my.toml:3: train.lr: expected a number, got string \"fast\""));
  msg = configError([] { parseConfig("[train]\nepochs = 2.5\n", "my.toml"); });
  EXPECT_THAT(msg, HasSubstr("my.toml:2: train.epochs: expected an integer, got float 2.5"));
  msg = configError([] { parseConfig("[model]\npartial_bn = 1\n", "my.toml"); });
  EXPECT_THAT(msg, HasSubstr("model.partial_bn: expected true or false"));
  msg = configError([] { parseConfig("[data]\nmean = [0.5, \"x\", 0.5]\n", "my.toml"); });
  EXPECT_THAT(msg, HasSubstr("data.mean: expected a number"));
}

TEST(Config, OutOfRangeValuesAreRefused) {
  EXPECT_THAT(configError([] { parseConfig("[train]\nepochs = 0\n", "r.toml"); }),
              HasSubstr("r.toml:2: train.epochs: must be >= 1, got 0"));
  EXPECT_THAT(configError([] { parseConfig("[train]\nlr = -0.1\n", "r.toml"); }),
              HasSubstr("train.lr: must be > 0"));
  EXPECT_THAT(configError([] { parseConfig("[model]\ndropout = 1.0\n", "r.toml"); }),
              HasSubstr("model.dropout: must be in [0, 1)"));
  EXPECT_THAT(configError([] { parseConfig("[data]\nstd = [1, 0, 1]\n", "r.toml"); }),
              HasSubstr("data.std: values must be > 0"));
  EXPECT_THAT(configError([] { parseConfig("[model]\nbackbone = \"resnet51\"\n", "r.toml"); }),
              HasSubstr("did you mean \"resnet50\""));
  EXPECT_THAT(configError([] { parseConfig("[eval]\ncrops = 5\n", "r.toml"); }),
              HasSubstr("eval.crops: must be one of 1, 3, 10, got 5"));
  EXPECT_THAT(configError([] { parseConfig("[data]\nresize = \"fixed\"\n", "r.toml"); }),
              HasSubstr("data.resize: must be one of short_side | fixed_4_3"));
  EXPECT_THAT(configError([] { parseConfig("[data]\nshort_video = \"loops\"\n", "r.toml"); }),
              HasSubstr("did you mean \"loop\""));
  EXPECT_THAT(configError([] { parseConfig("[dist]\nbackend = \"gloo\"\n", "r.toml"); }),
              HasSubstr("dist.backend: must be one of auto | nccl | mpi | local"));
}

TEST(Config, CrossFieldChecksNameTheKey) {
  EXPECT_THAT(
      configError([] { parseConfig("[data]\nshort_size = 128\ntarget_size = 224\n", "c.toml"); }),
      HasSubstr("c.toml:3: data.target_size: crop 224 is larger than data.short_size=128"));
  EXPECT_THAT(configError([] {
                parseConfig("[train]\nepochs = 10\nlr_decay_epochs = [5, 12]\n", "c.toml");
              }),
              HasSubstr("c.toml:3: train.lr_decay_epochs: epoch 12 is outside [1, epochs=10)"));
  EXPECT_THAT(configError([] {
                parseConfig("[train]\nepochs = 10\nlr_decay_epochs = [6, 5]\n", "c.toml");
              }),
              HasSubstr("strictly increasing"));
  // Only training reads the weights: checked with its inputs, not when parsing (tsn_eval
  // never reads them).
  const Config withWeights = parseConfig("[model]\npretrained = \"/no/such.pt\"\n", "c.toml");
  EXPECT_THAT(configError([&] { checkTrainingInputs(withWeights); }),
              HasSubstr("c.toml:2: model.pretrained: file not found: /no/such.pt"));
}

TEST(Config, SyntaxErrorNamesTheLine) {
  const auto msg = configError([] { parseConfig("[train]\nlr = = 3\n", "s.toml"); });
  EXPECT_THAT(msg, HasSubstr("s.toml:2: TOML syntax error"));
}

TEST(Config, OverridesApplyWithTheSameChecks) {
  const Config c = parseConfig("[train]\nlr = 0.1\n", "o.toml",
                               {"train.lr=0.02", "data.root=/data/k400", "model.backbone=resnet18",
                                "data.mean=[0.4, 0.4, 0.4]", "train.epochs = 9"});
  EXPECT_DOUBLE_EQ(c.train.lr, 0.02);
  EXPECT_EQ(c.data.root, "/data/k400");  // a bare word is a string
  EXPECT_EQ(c.model.backbone, "resnet18");
  EXPECT_EQ(c.data.mean, (std::vector<double>{0.4, 0.4, 0.4}));
  EXPECT_EQ(c.train.epochs, 9);
  EXPECT_EQ(c.train.lrDecayEpochs, (std::vector<int64_t>{3, 6}));
  EXPECT_EQ(c.origins.at("train.lr"), "--set train.lr=0.02");

  EXPECT_THAT(
      configError([] { parseConfig("", "o.toml", {"train.lrr=0.1"}); }),
      HasSubstr(
          "--set train.lrr=0.1: train.lrr: unknown key 'lrr' in [train] (did you mean 'lr'?)"));
  EXPECT_THAT(configError([] { parseConfig("", "o.toml", {"train.lr=fast"}); }),
              HasSubstr("--set train.lr=fast: train.lr: expected a number, got string \"fast\""));
  EXPECT_THAT(configError([] { parseConfig("", "o.toml", {"train.epochs=-1"}); }),
              HasSubstr("train.epochs: must be >= 1"));
  EXPECT_THAT(configError([] { parseConfig("", "o.toml", {"lr"}); }),
              HasSubstr("expected section.key=value"));
}

TEST(Config, ResolvedTomlReadsBackToTheSameConfig) {
  const Config c = parseConfig("[model]\nbackbone = \"resnet101\"\n[train]\nlr = 0.003\n", "r.toml",
                               {"data.root=/x"});
  const std::string resolved = toToml(c);
  EXPECT_THAT(resolved, HasSubstr("lr_decay_epochs = [15, 30]"));
  const Config again = parseConfig(resolved, "resolved.toml");
  EXPECT_EQ(toToml(again), resolved);
  EXPECT_EQ(configHash(again), configHash(c));
  EXPECT_NE(configHash(parseConfig("", "e.toml")), configHash(c));
  EXPECT_THAT(resolved, HasSubstr("backbone = 'resnet101'"));
  EXPECT_THAT(resolved, HasSubstr("lr = 0.003\n"));
}

TEST(Config, MissingListFileNamesKeyLineAndPath) {
  testing::TempDir dir("config_missing_list");
  testing::writeFile(dir.path() / "train.list", "a.mp4 0\n");
  const std::string text = "[data]\nroot = \"" + dir.str() + "\"\ntrain_list = \"" +
                           (dir.path() / "train.list").string() + "\"\nval_list = \"" +
                           (dir.path() / "nope.list").string() + "\"\n";
  const Config c = parseConfig(text, "m.toml");
  const auto msg = configError([&] { checkTrainingInputs(c); });
  EXPECT_THAT(msg, HasSubstr("m.toml:4: data.val_list: file not found: "));
  EXPECT_THAT(msg, HasSubstr("nope.list"));
  EXPECT_THAT(configError([] { loadConfig("/no/such/config.toml"); }),
              HasSubstr("/no/such/config.toml: config file not found"));
}

TEST(Config, AWorkDirThatCannotBeWrittenIsRefusedAndNothingIsCreated) {
  testing::TempDir dir("config_work_dir");
  testing::writeFile(dir.path() / "train.list", "a.mp4 0\n");
  const auto config = [&](const std::filesystem::path& workDir) {
    return parseConfig("[data]\nroot = \"" + dir.str() + "\"\ntrain_list = \"" +
                           (dir.path() / "train.list").string() + "\"\nval_list = \"" +
                           (dir.path() / "train.list").string() + "\"\n[train]\nwork_dir = \"" +
                           workDir.string() + "\"\n",
                       "w.toml");
  };
  testing::writeFile(dir.path() / "a_file", "x");
  const auto blocked = dir.path() / "a_file" / "sub" / "work";
  EXPECT_THAT(configError([&] { checkTrainingInputs(config(blocked)); }),
              HasSubstr("w.toml:6: train.work_dir: cannot create " + blocked.string() + ": " +
                        (dir.path() / "a_file").string() + " is not a directory"));
  // A missing one is fine (training creates it) and is not created by the check.
  const auto missing = dir.path() / "new" / "work";
  EXPECT_NO_THROW(checkTrainingInputs(config(missing)));
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "new"));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()),
                          std::filesystem::directory_iterator()),
            2)
      << "the write probe was left behind";
}

TEST(Config, ShippedConfigsLoadAndMatchTheirRecipes) {
  const std::string dir = std::string(TSN_SOURCE_DIR) + "/configs/";
  const Config seg3 = loadConfig(dir + "tsn_r50_k400_seg3.toml");
  EXPECT_EQ(seg3.model.backbone, "resnet50");
  EXPECT_EQ(seg3.model.segNum, 3);
  EXPECT_EQ(seg3.train.epochs, 45);
  EXPECT_EQ(seg3.train.batchSize, 32);
  EXPECT_DOUBLE_EQ(seg3.train.lr, 0.01);
  EXPECT_EQ(seg3.train.lrDecayEpochs, (std::vector<int64_t>{15, 30}));
  EXPECT_EQ(seg3.data.targetSize, 224);
  EXPECT_EQ(loadConfig(dir + "tsn_r50_k400_seg7.toml").model.segNum, 7);
  const Config mm = loadConfig(dir + "tsn_r50_k400_mmaction2.toml");
  EXPECT_TRUE(mm.data.multiScaleCrop);
  EXPECT_DOUBLE_EQ(mm.model.dropout, 0.4);
  EXPECT_DOUBLE_EQ(mm.train.clipGradNorm, 40);
  EXPECT_EQ(mm.train.epochs, 100);
  EXPECT_NO_THROW(loadConfig(dir + "synthetic_debug.toml"));
}

}  // namespace
}  // namespace tsn
