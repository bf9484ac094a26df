// tsn_synth: writes the synthetic video data set (real H.264/MP4 files and Kinetics-style lists).
#include <CLI/CLI.hpp>

#include <iostream>

#include "common/Stopwatch.h"
#include "synth/SyntheticDataset.h"

int main(int argc, char** argv) {
  tsn::synth::Options o;
  CLI::App app{"Make a small synthetic TSN data set of H.264/MP4 videos"};
  app.add_option("--out", o.outDir, "output directory")->required();
  app.add_option("--classes", o.classes, "number of classes")->capture_default_str();
  app.add_option("--videos-per-class", o.videosPerClass, "videos per class")->capture_default_str();
  app.add_option("--val-fraction", o.valFraction, "share of each class in val.list")
      ->capture_default_str();
  app.add_option("--seed", o.seed,
                 "seed; the same seed gives the same files, byte for byte, at any --jobs")
      ->capture_default_str();
  app.add_option("--width", o.width, "frame width (even)")->capture_default_str();
  app.add_option("--height", o.height, "frame height (even)")->capture_default_str();
  app.add_option("--fps", o.fps, "frames per second")->capture_default_str();
  app.add_option("--seconds", o.seconds, "length of each video")->capture_default_str();
  app.add_option("--gop", o.gop, "frames between keyframes")->capture_default_str();
  app.add_option("--bframes", o.maxBFrames, "max consecutive B-frames")->capture_default_str();
  app.add_option("--jobs", o.jobs, "encoding threads (0: one per core)")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    tsn::Stopwatch time;
    const auto s = tsn::synth::makeDataset(o);
    std::cout << "tsn_synth: " << s.trainVideos << " train + " << s.valVideos << " val videos, "
              << s.classNames.size() << " classes, " << s.framesPerVideo << " frames each, in "
              << o.outDir << " (" << time.seconds() << " s)\n";
  } catch (const std::exception& e) {
    std::cerr << "tsn_synth: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
