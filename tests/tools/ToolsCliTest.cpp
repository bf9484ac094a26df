#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sched.h>

#include <cmath>
#include <fstream>

#include "support/CliTest.h"
#include "video/VideoTestSupport.h"

namespace tsn {
namespace {

using ::testing::HasSubstr;

class ToolsCli : public testing::CliTest {
 protected:
  ToolsCli() : CliTest("tools", 2, 4, 30, 10) {}
};

TEST_F(ToolsCli, ProbeReportsFramesAndKeyframesAndDumpsPngFrames) {
  const auto video = (data_ / "videos/class_01/class_01_0002.mp4").string();
  const auto r = testing::run(testing::binary("tsn_probe") + " --json " + video +
                              " --dump-frames 0,17,29 --out " + dir_->str() + "/frames");
  ASSERT_EQ(r.exitCode, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["frames"], 30);
  EXPECT_EQ(j["keyframes"], (std::vector<int64_t>{0, 10, 20}));
  EXPECT_EQ(j["width"], 160);
  EXPECT_EQ(j["codec"], "h264");
  for (const char* name : {"frame_000000.png", "frame_000017.png", "frame_000029.png"}) {
    const auto png = dir_->path() / "frames" / name;
    ASSERT_TRUE(std::filesystem::exists(png)) << png;
    // Lossless RGB at native size, as ffprobe sees it.
    const auto p = testing::run(
        "ffprobe -v error -show_entries stream=width,height,pix_fmt -of csv=p=0 " + png.string());
    EXPECT_EQ(p.output, "160,120,rgb24\n");
  }
  const auto bad = testing::run(testing::binary("tsn_probe") + " /no/such.mp4");
  EXPECT_EQ(bad.exitCode, 1);
  EXPECT_THAT(bad.output, HasSubstr("/no/such.mp4"));
}

TEST_F(ToolsCli, CheckVideosReportsUnreadableOnesAndWritesACleanList) {
  testing::writeFile(data_ / "broken.mp4", "garbage");
  const auto list = dir_->path() / "mixed.list";
  testing::writeFile(list,
                     "videos/class_00/class_00_0000.mp4 0\nbroken.mp4 1\n# comment\nmissing.mp4 0\n"
                     "videos/class_01/class_01_0000.mp4 1\n");
  const auto clean = dir_->path() / "clean.list";
  const auto r = testing::run(testing::binary("tsn_check_videos") + " --json --jobs 2 --list " +
                              list.string() + " --root " + data_.string() + " --write-clean " +
                              clean.string());
  EXPECT_EQ(r.exitCode, 3) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["videos"], 4);
  EXPECT_EQ(j["unreadable"], 2);
  EXPECT_EQ(j["by_reason"]["missing file"], 1);
  std::ifstream in(clean);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "videos/class_00/class_00_0000.mp4 0\nvideos/class_01/class_01_0000.mp4 1\n");
}

TEST_F(ToolsCli, ProbeAndCheckVideosCountLeadingPacketsAsInformationNotDamage) {
  // A clip cut by stream copy between keyframes: 30 packets before its first keyframe.
  const auto source = (dir_->path() / "long.mp4").string();
  const auto clip = (data_ / "cut.mp4").string();
  testing::cliVideo(source, "-c:v libx264 -bf 3 -g 50 -pix_fmt yuv420p", 100);
  testing::cutByStreamCopy(source, clip, 0.7);
  const auto packets = testing::run(
      "ffprobe -v quiet -count_packets -select_streams v:0 -show_entries stream=nb_read_packets "
      "-of csv=p=0 " +
      clip);
  const auto frames = testing::run(
      "ffprobe -v quiet -count_frames -select_streams v:0 -show_entries stream=nb_read_frames "
      "-of csv=p=0 " +
      clip);
  const int64_t dropped = std::stoll(packets.output) - std::stoll(frames.output);
  ASSERT_GT(dropped, 0);

  const auto probe = testing::run(testing::binary("tsn_probe") + " --json " + clip);
  ASSERT_EQ(probe.exitCode, 0) << probe.output;
  const auto p = nlohmann::json::parse(probe.output);
  EXPECT_EQ(p["frames"], std::stoll(frames.output));
  EXPECT_EQ(p["leading_packets_dropped"], dropped);
  EXPECT_EQ(p["stream_index"], 0);
  const auto text = testing::run(testing::binary("tsn_probe") + " " + clip);
  EXPECT_THAT(text.output, HasSubstr(fmt::format("{} leading packets before the first", dropped)));

  const auto list = dir_->path() / "cut.list";
  testing::writeFile(list, "cut.mp4 0\nvideos/class_00/class_00_0000.mp4 0\n");
  const auto r = testing::run(testing::binary("tsn_check_videos") + " --json --list " +
                              list.string() + " --root " + data_.string());
  EXPECT_EQ(r.exitCode, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["unreadable"], 0);
  EXPECT_EQ(j["leading_packets_dropped"], dropped);
  ASSERT_EQ(j["start_between_keyframes"].size(), 1u);
  EXPECT_EQ(j["start_between_keyframes"][0]["path"], clip);
  const auto plain = testing::run(testing::binary("tsn_check_videos") + " --list " + list.string() +
                                  " --root " + data_.string());
  EXPECT_THAT(plain.output, HasSubstr("2 videos, 0 unreadable"));
  EXPECT_THAT(plain.output, HasSubstr("1 readable video starts between keyframes"));
}

TEST_F(ToolsCli, BenchDecodePrintsBothReadersAsJson) {
  const auto r = testing::run(testing::binary("tsn_bench") + " decode --list " +
                              (data_ / "train.list").string() + " --root " + data_.string() +
                              " --seg-num 3 --workers 2 --clips 6");
  ASSERT_EQ(r.exitCode, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["sparse"]["clips"], 6);
  EXPECT_GT(j["sparse"]["clips_per_s"].get<double>(), 0);
  // The reference reader decodes every frame of 30-frame videos for 3 sampled frames.
  EXPECT_DOUBLE_EQ(j["decode_all_then_pick"]["frames_decoded_per_sampled_frame"].get<double>(),
                   10.0);
  EXPECT_LT(j["sparse"]["frames_decoded_per_sampled_frame"].get<double>(), 10.0);
  EXPECT_GT(j["speedup_clips_per_s"].get<double>(), 0);
}

TEST_F(ToolsCli, BenchDecodeWithoutTheLoopFilterSaysHowFarFramesAreFromExact) {
  const auto r = testing::run(testing::binary("tsn_bench") + " decode --list " +
                              (data_ / "train.list").string() + " --root " + data_.string() +
                              " --clips 4 --skip-loop-filter");
  ASSERT_EQ(r.exitCode, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["skip_loop_filter"], true);
  EXPECT_EQ(j["psnr_db_vs_exact"]["frames"], 12);
  // Not exact (100 means identical), and not garbage either.
  EXPECT_LT(j["psnr_db_vs_exact"]["mean"].get<double>(), 100);
  EXPECT_GT(j["psnr_db_vs_exact"]["min"].get<double>(), 20);
}

// The trainer's own input pipeline: the recipe's config, this list, every clip accounted for.
// Run on one core, its 2 workers share it: per core is then the whole rate.
TEST_F(ToolsCli, BenchLoadReportsClipsPerCoreAndWhereTheTimeGoes) {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  ASSERT_EQ(sched_getaffinity(0, sizeof(allowed), &allowed), 0);
  int core = 0;
  while (!CPU_ISSET(core, &allowed)) ++core;
  const std::string config = std::string(TSN_SOURCE_DIR) + "/configs/tsn_r50_k400_seg3.toml";
  const auto r =
      testing::run("taskset -c " + std::to_string(core) + " " + testing::binary("tsn_bench") +
                   " load --config " + config + " --list " + (data_ / "train.list").string() +
                   " --root " + data_.string() +
                   " --set data.short_size=64 --set data.target_size=56"
                   " --set train.batch_size=4 --workers 2 --clips 10");
  ASSERT_EQ(r.exitCode, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["clips"], 10);
  EXPECT_EQ(j["batches"], 3);  // 4 + 4 + 2
  EXPECT_EQ(j["workers"], 2);
  EXPECT_EQ(j["failed_samples"], 0);
  EXPECT_EQ(j["pinned_batches"], false);  // no GPU here
  EXPECT_GT(j["clips_per_s"].get<double>(), 0);
  EXPECT_EQ(j["cores"], 1);
  EXPECT_DOUBLE_EQ(j["clips_per_s_per_core"].get<double>(), j["clips_per_s"].get<double>());
  // Every stage of the path ran and was timed.
  for (const char* stage :
       {"open_and_index", "decode", "convert_and_scale", "crop_flip_normalise", "batch_assembly"}) {
    EXPECT_GT(j["stage_cpu_seconds"][stage].get<double>(), 0) << stage;
    EXPECT_GE(j["stage_shares_of_cpu"][stage].get<double>(), 0) << stage;
  }
  // The stream probe is part of opening.
  EXPECT_GT(j["stream_probe_cpu_seconds"].get<double>(), 0);
  EXPECT_LT(j["stream_probe_cpu_seconds"].get<double>(),
            j["stage_cpu_seconds"]["open_and_index"].get<double>());
  const auto bad = testing::run(testing::binary("tsn_bench") + " load --config " + config +
                                " --list /no/such.list");
  EXPECT_NE(bad.exitCode, 0);
  EXPECT_THAT(bad.output, HasSubstr("/no/such.list"));
}

// The C++ trainer and the PyTorch script read one config and time the same model and batch.
TEST_F(ToolsCli, BenchTrainAndItsPyTorchTwinReportTheSameSetup) {
  const std::string config = std::string(TSN_SOURCE_DIR) + "/configs/tsn_r50_k400_seg3.toml";
  const std::string args =
      " --config " + config +
      " --set model.backbone=resnet18 --set model.num_classes=5 --set train.batch_size=2"
      " --set data.target_size=32 --set train.precision=bf16 --set train.channels_last=true"
      " --iters 2 --warmup 1";
  const auto ours = testing::run(testing::binary("tsn_bench") + " train" + args);
  const auto theirs = testing::run("/usr/bin/python3 " + std::string(TSN_SOURCE_DIR) +
                                   "/tools/bench/bench_pytorch_tsn.py" + args);
  ASSERT_EQ(ours.exitCode, 0) << ours.output;
  ASSERT_EQ(theirs.exitCode, 0) << theirs.output;
  const auto a = nlohmann::json::parse(ours.output.substr(ours.output.find('{')));
  const auto b = nlohmann::json::parse(theirs.output.substr(theirs.output.find('{')));
  for (const char* key : {"backbone", "seg_num", "batch", "size", "precision", "channels_last"}) {
    EXPECT_EQ(a[key], b[key]) << key;
  }
  EXPECT_EQ(a["precision"], "bf16");
  EXPECT_GT(a["clips_per_s"].get<double>(), 0);
  EXPECT_GT(b["clips_per_s"].get<double>(), 0);
  // Both trained: a finite loss, below the ln 5 of chance after a few steps on one batch.
  for (const auto* j : {&a, &b}) {
    const double loss = (*j)["last_loss"].get<double>();
    EXPECT_TRUE(std::isfinite(loss) && loss < std::log(5.0)) << j->dump();
  }
  // The host waited for the device once in the timed steps (after the last).
  EXPECT_DOUBLE_EQ(a["host_waits_per_step"].get<double>(), 1.0 / a["iters"].get<double>());

  // Time-boxed (what the GPU check runs): steps until the time is up, however many that is.
  std::string boxed = args.substr(0, args.find(" --iters")) + " --seconds 1.5 --warmup 1";
  for (const std::string& command : {testing::binary("tsn_bench") + " train" + boxed,
                                     "/usr/bin/python3 " + std::string(TSN_SOURCE_DIR) +
                                         "/tools/bench/bench_pytorch_tsn.py" + boxed}) {
    const auto r = testing::run(command);
    ASSERT_EQ(r.exitCode, 0) << r.output;
    const auto j = nlohmann::json::parse(r.output.substr(r.output.find('{')));
    EXPECT_GE(j["iters"].get<int>(), 1) << command;
    EXPECT_GE(j["iters"].get<double>() * j["seconds_per_step"].get<double>(), 1.5) << command;
  }
}

// ImageNet weights as torchvision saves them -> tools/weights/convert_weights.py ->
// model.pretrained.
TEST_F(ToolsCli, ConvertedTorchvisionWeightsLoadAsPretrained) {
  const auto tv = dir_->path() / "resnet18.pth", ours = dir_->path() / "resnet18_tsn.pt";
  auto r = testing::run(
      "/usr/bin/python3 -c 'import torch, torchvision; "
      "torch.save(torchvision.models.resnet18().state_dict(), \"" +
      tv.string() + "\")'");
  ASSERT_EQ(r.exitCode, 0) << r.output;
  r = testing::run("/usr/bin/python3 " + std::string(TSN_SOURCE_DIR) +
                   "/tools/weights/convert_weights.py --from torchvision " + tv.string() + " " +
                   ours.string());
  ASSERT_EQ(r.exitCode, 0) << r.output;
  testing::writeFile(dir_->path() / "pre.toml",
                     fmt::format(R"([model]
backbone = "resnet18"
num_classes = 3
pretrained = "{1}"
{0}[train]
epochs = 1
batch_size = 2
work_dir = "{2}"
)",
                                 testing::syntheticDataSection(data_), ours.string(),
                                 (dir_->path() / "pre_work").string()));
  r = testing::run(testing::binary("tsn_dist") + " --config " +
                   (dir_->path() / "pre.toml").string() + " --debug --max-steps 1");
  ASSERT_EQ(r.exitCode, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("loaded 120 tensors from " + ours.string() +
                                  "; left at initial values: head.fc.weight, head.fc.bias"));
}

TEST_F(ToolsCli, KineticsCsvBecomesAFileList) {
  const auto root = dir_->path() / "k400";
  std::filesystem::create_directories(root / "air_drumming");
  std::filesystem::copy_file(data_ / "videos/class_00/class_00_0000.mp4",
                             root / "air_drumming/vid1_000005_000015.mp4");
  testing::writeFile(dir_->path() / "train.csv",
                     "label,youtube_id,time_start,time_end,split\n"
                     "air drumming,vid1,5,15,train\nabseiling,vid2,0,10,train\n");
  const auto r = testing::run(
      "/usr/bin/python3 " + std::string(TSN_SOURCE_DIR) + "/tools/data/kinetics_lists.py --csv " +
      dir_->str() + "/train.csv --root " + root.string() + " --out " + dir_->str() +
      "/train.list --classes-out " + dir_->str() + "/classes.txt --drop-missing");
  ASSERT_EQ(r.exitCode, 0) << r.output;
  std::ifstream list(dir_->path() / "train.list");
  const std::string text((std::istreambuf_iterator<char>(list)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "air_drumming/vid1_000005_000015.mp4 1\n");  // sorted classes: abseiling = 0
  EXPECT_THAT(r.output, HasSubstr("1 missing on disk left out"));
}

}  // namespace
}  // namespace tsn
