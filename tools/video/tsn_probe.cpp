// tsn_probe VIDEO: what the reader sees in a video (the stream it reads, frame count, leading
// packets that decode to nothing, keyframes, size, rotation), and optionally frames written as
// lossless PNG for inspection.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <filesystem>
#include <iostream>

#include "common/AbandonableThread.h"
#include "common/Error.h"
#include "common/Main.h"
#include "common/Strings.h"
#include "video/VideoReader.h"

namespace {

/// What the reader sees in `video`, and the frames of `dumpFrames` written as PNG into `outDir`.
nlohmann::json probe(const std::string& video, const tsn::ReaderOptions& options,
                     const std::string& dumpFrames, const std::string& outDir) {
  tsn::VideoReader reader(video, options);
  const tsn::VideoInfo& i = reader.info();
  nlohmann::json j = {{"path", i.path},
                      {"frames", i.numFrames},
                      {"fps", i.fps},
                      {"duration_s", i.durationS},
                      {"width", i.width},
                      {"height", i.height},
                      {"rotation", i.rotation},
                      {"codec", i.codec},
                      {"container", i.container},
                      {"pixel_format", i.pixelFormat},
                      {"keyframes", i.keyframes},
                      {"seekable", i.seekable},
                      {"stream_index", i.streamIndex},
                      {"video_streams", i.videoStreams},
                      {"attached_pictures", i.attachedPictures},
                      {"leading_packets_dropped", i.leadingPacketsDropped}};
  if (!dumpFrames.empty()) {
    std::vector<int64_t> indices;
    for (const auto& part : tsn::split(dumpFrames, ',')) indices.push_back(std::stoll(part));
    std::filesystem::create_directories(outDir);
    const auto frames = reader.decode(indices, 0);
    std::vector<std::string> written;
    for (size_t k = 0; k < frames.size(); ++k) {
      cv::Mat bgr;
      cv::cvtColor(frames[k], bgr, cv::COLOR_RGB2BGR);
      const auto file = std::filesystem::path(outDir) / fmt::format("frame_{:06d}.png", indices[k]);
      if (!cv::imwrite(file.string(), bgr)) throw tsn::Error("cannot write " + file.string());
      written.push_back(file.string());
    }
    j["written"] = written;
  }
  return j;
}

void printSummary(const nlohmann::json& j) {
  std::cout << fmt::format(
                   "{}: {} frames, {:.3f} fps, {:.3f} s, {}x{}, rotation {}, {} in {} ({})\n",
                   j["path"].get<std::string>(), j["frames"].get<int64_t>(), j["fps"].get<double>(),
                   j["duration_s"].get<double>(), j["width"].get<int>(), j["height"].get<int>(),
                   j["rotation"].get<int>(), j["codec"].get<std::string>(),
                   j["container"].get<std::string>(), j["pixel_format"].get<std::string>())
            << fmt::format("keyframes: {}{}\n",
                           fmt::join(j["keyframes"].get<std::vector<int64_t>>(), " "),
                           j["seekable"].get<bool>() ? ""
                                                     : " (no presentation timestamps: decoded from "
                                                       "the start, in decoder order)");
  const auto streams = j["video_streams"].get<int>();
  const auto pictures = j["attached_pictures"].get<int>();
  if (streams > 1 || pictures > 0) {
    std::cout << fmt::format("stream {} of {} video stream{}{} (the ffmpeg CLI's choice)\n",
                             j["stream_index"].get<int>(), streams, streams > 1 ? "s" : "",
                             pictures > 0 ? fmt::format(", {} attached picture{} skipped", pictures,
                                                        pictures > 1 ? "s" : "")
                                          : "");
  }
  if (const auto dropped = j["leading_packets_dropped"].get<int64_t>(); dropped > 0) {
    std::cout << fmt::format(
        "{} leading packet{} before the first decodable frame (a clip cut between keyframes): "
        "not frames\n",
        dropped, dropped > 1 ? "s" : "");
  }
  if (j.contains("written")) {
    for (const auto& f : j["written"]) std::cout << "wrote " << f.get<std::string>() << "\n";
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Probe a video the way tsn-dist reads it"};
  std::string video, dumpFrames, outDir = ".";
  bool json = false;
  tsn::ReaderOptions options;
  app.add_option("video", video, "video file")->required();
  app.add_option("--timeout", options.timeoutS, "seconds the probe may take (0: no limit)")
      ->capture_default_str();
  app.add_option("--containers", options.containers,
                 "containers allowed (FFmpeg demuxer names, comma-separated; empty: all)")
      ->capture_default_str();
  app.add_flag("--json", json, "print JSON");
  app.add_option("--dump-frames", dumpFrames, "comma-separated frame indices to write as PNG");
  app.add_option("--out", outDir, "directory for --dump-frames")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  options.containersSetting = "--containers";
  const int code = tsn::runMain("tsn_probe", [&] {
    // On a thread that can be given up on: a file on a stalled file system blocks in open().
    tsn::AbandonableThread thread;
    tsn::AbandonableThread::Outcome outcome{};
    const auto j = thread.call<nlohmann::json>(
        [=] { return probe(video, options, dumpFrames, outDir); },
        options.timeoutS > 0 ? options.timeoutS + 1 : 0, nullptr, &outcome);
    if (!j) {
      throw tsn::Error(fmt::format(
          "{}: not read within --timeout {} s: stuck in a system call (a stalled file system, "
          "or a file that blocks)",
          video, options.timeoutS));
    }
    if (json) {
      std::cout << j->dump(2) << std::endl;
    } else {
      printSummary(*j);
    }
    return tsn::kExitOk;
  });
  return tsn::leaveProcess(code);
}
