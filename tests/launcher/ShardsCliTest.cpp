// The synthetic recipe trained end to end from packed frame shards (tsn_pack, data.format =
// "shards") on 2 MPI ranks, as tools/run_main.sh trains it from videos.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <regex>

#include "support/CliTest.h"

namespace tsn {
namespace {

class ShardsCli : public testing::CliTest {
 protected:
  ShardsCli() : CliTest("shards_cli", 2, 2, 20, 10) {}
};

TEST_F(ShardsCli, TheSyntheticRecipeTrainsFromShardsToTheTopOneOfVideos) {
  const auto set = dir_->path() / "synthetic";
  const auto made =
      testing::run(std::string(TSN_SOURCE_DIR) + "/tools/data/make_synthetic.sh " + set.string());
  ASSERT_EQ(made.exitCode, 0) << made.output;
  for (const char* list : {"train", "val"}) {
    const auto packed = testing::run(fmt::format(
        "{} --list {}/{}.list --root {} --out {}/shards/{} --short-side 64 --threads 2",
        testing::binary("tsn_pack"), set.string(), list, set.string(), dir_->str(), list));
    ASSERT_EQ(packed.exitCode, 0) << packed.output;
  }
  const auto r = mpirun(fmt::format(
      "-np 2 {} --config {}/configs/synthetic_debug.toml --set data.format=shards --set "
      "data.train_list={}/shards/train/manifest.json --set "
      "data.val_list={}/shards/val/manifest.json --set train.work_dir={}/work",
      testing::binary("tsn_dist"), TSN_SOURCE_DIR, dir_->str(), dir_->str(), dir_->str()));
  ASSERT_EQ(r.exitCode, 0) << r.output;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.output, m, std::regex(R"(final validation: top1 ([0-9.]+))")))
      << r.output;
  // The videos reach 1.00 (README: recipe_check.py, set 1); JPEG frames must do as well.
  EXPECT_GE(std::stod(m[1]), 0.95) << r.output;
  EXPECT_THAT(r.output, ::testing::HasSubstr("(100 videos, 0 unreadable"));
}

}  // namespace
}  // namespace tsn
