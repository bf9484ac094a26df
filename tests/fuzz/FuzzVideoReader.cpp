// libFuzzer target: a video file's bytes through what the loader does with it: open (probe,
// demux, index every packet), then decode the first, a middle and the last frame scaled as
// training scales them. Any tsn::Error is the expected outcome for bad bytes; a crash, a
// sanitizer report, an escaping exception of another type or a hang is a finding.
#include <cstdint>
#include <vector>

#include "FuzzInput.h"
#include "common/Error.h"
#include "video/VideoReader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // No extension: the demuxer is chosen by probing the content, as for a mislabelled file.
  static const std::string path = tsn::fuzz::scratchFile("fuzz_video", "");
  tsn::fuzz::writeInput(path, data, size);
  try {
    tsn::ReaderOptions options;
    options.timeoutS = 5;
    tsn::VideoReader reader(path, options);
    const int64_t n = reader.info().numFrames;
    reader.decode({0, n / 2, n - 1}, 32);
    reader.decode({n - 1}, cv::Size(24, 16));
  } catch (const tsn::Error&) {
  }
  return 0;
}
