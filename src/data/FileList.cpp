#include "data/FileList.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/Error.h"
#include "common/Strings.h"

namespace tsn {

std::vector<VideoSample> readFileList(const std::string& listPath, DataFormat format,
                                      const std::string& root, int64_t numClasses) {
  std::ifstream in(listPath);
  if (!in) throw ConfigError(fmt::format("{}: cannot open file list", listPath));
  std::vector<VideoSample> samples;
  std::string line;
  for (int lineNo = 1; std::getline(in, line); ++lineNo) {
    const std::string text = trim(line.substr(0, line.find('#')));
    if (text.empty()) continue;
    const auto fail = [&](const std::string& what) -> void {
      throw ConfigError(fmt::format("{}:{}: {}: \"{}\"", listPath, lineNo, what, text));
    };
    std::istringstream fields(text);
    VideoSample sample;
    sample.line = lineNo;
    std::string extra;
    const bool ok =
        format == DataFormat::Video
            ? static_cast<bool>(fields >> sample.path >> sample.label)
            : static_cast<bool>(fields >> sample.path >> sample.numFrames >> sample.label);
    if (!ok || (fields >> extra)) {
      fail(format == DataFormat::Video ? "expected 'path label'"
                                       : "expected 'dir num_frames label'");
    }
    if (sample.label < 0 || sample.label >= numClasses) {
      fail(fmt::format("label {} outside [0, model.num_classes={})", sample.label, numClasses));
    }
    if (format == DataFormat::Rawframes && sample.numFrames < 1) fail("num_frames must be >= 1");
    const std::filesystem::path relative = std::filesystem::path(sample.path).lexically_normal();
    if (relative.is_absolute() || (!relative.empty() && *relative.begin() == "..")) {
      fail("path escapes the data root");
    }
    sample.path = (std::filesystem::path(root) / relative).string();
    samples.push_back(std::move(sample));
  }
  if (samples.empty()) throw ConfigError(fmt::format("{}: file list has no entries", listPath));
  return samples;
}

uint64_t fileListHash(const std::vector<VideoSample>& samples) {
  uint64_t hash = kFnvOffset;
  for (const auto& s : samples) {
    hash = fnv1a(fmt::format("{} {} {}\n", s.path, s.label, s.numFrames), hash);
  }
  return hash;
}

}  // namespace tsn
