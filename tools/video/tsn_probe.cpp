// tsn_probe VIDEO: what the reader sees in a video (frame count from packets, keyframes, size,
// rotation), and optionally frames written as lossless PNG for inspection.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <filesystem>
#include <iostream>

#include "common/Error.h"
#include "common/Main.h"
#include "common/Strings.h"
#include "video/VideoReader.h"

int main(int argc, char** argv) {
  CLI::App app{"Probe a video the way tsn-dist reads it"};
  std::string video, dumpFrames, outDir = ".";
  bool json = false;
  app.add_option("video", video, "video file")->required();
  app.add_flag("--json", json, "print JSON");
  app.add_option("--dump-frames", dumpFrames, "comma-separated frame indices to write as PNG");
  app.add_option("--out", outDir, "directory for --dump-frames")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  return tsn::runMain("tsn_probe", [&] {
    tsn::VideoReader reader(video);
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
                        {"seekable", i.seekable}};
    if (!dumpFrames.empty()) {
      std::vector<int64_t> indices;
      for (const auto& part : tsn::split(dumpFrames, ',')) indices.push_back(std::stoll(part));
      std::filesystem::create_directories(outDir);
      const auto frames = reader.decode(indices, 0);
      std::vector<std::string> written;
      for (size_t k = 0; k < frames.size(); ++k) {
        cv::Mat bgr;
        cv::cvtColor(frames[k], bgr, cv::COLOR_RGB2BGR);
        const auto file =
            std::filesystem::path(outDir) / fmt::format("frame_{:06d}.png", indices[k]);
        if (!cv::imwrite(file.string(), bgr)) throw tsn::Error("cannot write " + file.string());
        written.push_back(file.string());
      }
      j["written"] = written;
    }
    if (json) {
      std::cout << j.dump(2) << std::endl;
    } else {
      std::cout << fmt::format(
                       "{}: {} frames, {:.3f} fps, {:.3f} s, {}x{}, rotation {}, {} in {} ({})\n",
                       i.path, i.numFrames, i.fps, i.durationS, i.width, i.height, i.rotation,
                       i.codec, i.container, i.pixelFormat)
                << fmt::format("keyframes: {}{}\n", fmt::join(i.keyframes, " "),
                               i.seekable ? ""
                                          : " (no presentation timestamps: decoded from the "
                                            "start, in decoder order)");
      if (j.contains("written")) {
        for (const auto& f : j["written"]) std::cout << "wrote " << f.get<std::string>() << "\n";
      }
    }
    return tsn::kExitOk;
  });
}
