#include "data/Sampling.h"

#include <algorithm>

namespace tsn {
namespace {

std::vector<int64_t> expand(const std::vector<int64_t>& starts, int64_t seglen, int64_t numFrames,
                            ShortVideoMode shortVideo) {
  std::vector<int64_t> frames;
  frames.reserve(starts.size() * seglen);
  for (const int64_t start : starts) {
    for (int64_t j = 0; j < seglen; ++j) {
      const int64_t i = start + j;
      frames.push_back(shortVideo == ShortVideoMode::Loop ? i % numFrames
                                                          : std::min(i, numFrames - 1));
    }
  }
  return frames;
}

}  // namespace

std::vector<int64_t> sampleTrainFrames(int64_t numFrames, int64_t segNum, int64_t seglen,
                                       std::mt19937_64& rng, ShortVideoMode shortVideo) {
  std::vector<int64_t> starts(segNum, 0);
  const int64_t span = numFrames - seglen + 1;  // valid start positions
  const int64_t interval = span / segNum;
  if (interval > 0) {
    std::uniform_int_distribution<int64_t> offset(0, interval - 1);
    for (int64_t i = 0; i < segNum; ++i) starts[i] = i * interval + offset(rng);
  } else if (span > segNum) {
    // Fewer positions than segments per slot but more than segments: distinct sorted picks.
    std::vector<int64_t> all(span);
    for (int64_t i = 0; i < span; ++i) all[i] = i;
    std::shuffle(all.begin(), all.end(), rng);
    std::copy_n(all.begin(), segNum, starts.begin());
    std::sort(starts.begin(), starts.end());
  }  // else: every segment starts at frame 0, as in MMAction2
  return expand(starts, seglen, numFrames, shortVideo);
}

std::vector<int64_t> sampleEvalFrames(int64_t numFrames, int64_t segNum, int64_t seglen,
                                      int64_t clip, int64_t numClips, ShortVideoMode shortVideo) {
  const double span = static_cast<double>(std::max<int64_t>(numFrames - seglen + 1, 1));
  const double interval = span / static_cast<double>(segNum);
  // Clip c of numClips shifts every segment's pick by c/numClips of a segment; one clip takes
  // the centre.
  const double shift =
      numClips == 1 ? interval / 2 : interval * static_cast<double>(clip) / numClips;
  std::vector<int64_t> starts(segNum);
  for (int64_t i = 0; i < segNum; ++i) {
    starts[i] =
        std::min(static_cast<int64_t>(interval * i + shift), static_cast<int64_t>(span) - 1);
  }
  return expand(starts, seglen, numFrames, shortVideo);
}

}  // namespace tsn
