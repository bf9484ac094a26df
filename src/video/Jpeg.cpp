#include "video/Jpeg.h"

#include <turbojpeg.h>

#include <algorithm>

#include "common/Error.h"
#include "video/AvError.h"

namespace tsn::jpeg {
namespace {

std::string turboError(void* handle) {
  return tjGetErrorStr2(static_cast<tjhandle>(handle));
}

/// TurboJPEG's scaling factors of at most 1/2, largest first (1/2, 3/8, 1/4, 1/8).
const std::vector<tjscalingfactor>& reducingFactors() {
  static const std::vector<tjscalingfactor> factors = [] {
    int n = 0;
    const tjscalingfactor* all = tjGetScalingFactors(&n);
    std::vector<tjscalingfactor> out;
    for (int i = 0; i < n; ++i) {
      if (all[i].num * 2 <= all[i].denom) out.push_back(all[i]);
    }
    std::sort(out.begin(), out.end(), [](const tjscalingfactor& a, const tjscalingfactor& b) {
      return a.num * b.denom > b.num * a.denom;
    });
    return out;
  }();
  return factors;
}

}  // namespace

bool Target::coveredBy(int width, int height) const {
  if (size.area() > 0) return width >= size.width && height >= size.height;
  if (shortSide > 0) return std::min(width, height) >= shortSide;
  return false;  // the frame as stored: no reduction covers it
}

cv::Size decodedSize(int width, int height, const Target& target) {
  cv::Size best(width, height);
  for (const tjscalingfactor& f : reducingFactors()) {
    const int w = TJSCALED(width, f), h = TJSCALED(height, f);
    if (!target.coveredBy(w, h)) break;
    best = {w, h};
  }
  return best;
}

Decoder::Decoder(bool fastDct) : handle_(tjInitDecompress()), flags_(fastDct ? TJFLAG_FASTDCT : 0) {
  TSN_CHECK(handle_ != nullptr, "cannot create a TurboJPEG decompressor: {}",
            tjGetErrorStr2(nullptr));
}

Decoder::~Decoder() {
  tjDestroy(static_cast<tjhandle>(handle_));
}

bool Decoder::dimensions(const uint8_t* data, size_t size, int& width, int& height) {
  int subsampling = 0, colorspace = 0;
  return tjDecompressHeader3(static_cast<tjhandle>(handle_), data, static_cast<unsigned long>(size),
                             &width, &height, &subsampling, &colorspace) == 0;
}

cv::Mat Decoder::decode(const uint8_t* data, size_t size, const Target& target,
                        const std::function<std::string()>& where) {
  int width = 0, height = 0;
  if (!dimensions(data, size, width, height)) {
    throw VideoError(VideoFailure::InvalidData,
                     where() + ": not a JPEG image (" + turboError(handle_) + ")");
  }
  const cv::Size out = decodedSize(width, height, target);
  cv::Mat rgb(out, CV_8UC3);
  // A damaged image fails here, warnings included (the CRC-32C matched, so the packer wrote it
  // so): no frame is half grey.
  if (tjDecompress2(static_cast<tjhandle>(handle_), data, static_cast<unsigned long>(size),
                    rgb.data, out.width, static_cast<int>(rgb.step), out.height, TJPF_RGB,
                    flags_) != 0) {
    throw VideoError(VideoFailure::InvalidData,
                     where() + ": damaged JPEG image (" + turboError(handle_) + ")");
  }
  return rgb;
}

Decoder& Decoder::forThisThread() {
  thread_local Decoder decoder;
  return decoder;
}

Encoder::Encoder() : handle_(tjInitCompress()) {
  TSN_CHECK(handle_ != nullptr, "cannot create a TurboJPEG compressor: {}",
            tjGetErrorStr2(nullptr));
}

Encoder::~Encoder() {
  tjDestroy(static_cast<tjhandle>(handle_));
}

void Encoder::encode(const cv::Mat& rgb, int quality, std::vector<uint8_t>& into) {
  TSN_CHECK(rgb.type() == CV_8UC3 && !rgb.empty(), "JPEG encoding takes an 8-bit RGB image");
  TSN_CHECK(quality >= 1 && quality <= 100, "JPEG quality {} outside 1-100", quality);
  // Into a buffer of the worst-case size, so TurboJPEG never reallocates it.
  into.resize(tjBufSize(rgb.cols, rgb.rows, TJSAMP_420));
  auto* out = into.data();
  unsigned long bytes = into.size();
  if (tjCompress2(static_cast<tjhandle>(handle_), rgb.data, rgb.cols, static_cast<int>(rgb.step),
                  rgb.rows, TJPF_RGB, &out, &bytes, TJSAMP_420, quality, TJFLAG_NOREALLOC) != 0) {
    throw Error("cannot encode a frame as JPEG: " + turboError(handle_));
  }
  into.resize(bytes);
}

Encoder& Encoder::forThisThread() {
  thread_local Encoder encoder;
  return encoder;
}

}  // namespace tsn::jpeg
