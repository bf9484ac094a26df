#pragma once
/// @file JPEG frames through libjpeg-turbo's TurboJPEG API: decoding straight to RGB, scaled
/// during decoding where the stored frame is at least twice what is needed, and encoding from
/// RGB (tsn_pack). A TurboJPEG handle is not thread-safe: each thread has its own
/// (forThisThread), so each loader worker decodes with one handle for its whole life.

#include <opencv2/core.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace tsn::jpeg {

/// What a decoded frame is scaled to next: an exact `size` when it has an area, else a short
/// side (`shortSide`; 0 keeps the frame as stored).
struct Target {
  int shortSide = 0;
  cv::Size size;
  /// Whether a `width` x `height` image is at least what the target needs in each dimension.
  bool coveredBy(int width, int height) const;
};

/// The dimensions a frame of `width` x `height` decodes to for `target`: scaled by the smallest
/// of TurboJPEG's factors of at most 1/2 that still covers the target, else as stored.
cv::Size decodedSize(int width, int height, const Target& target);

/// Decodes with the fast integer IDCT (TJFLAG_FASTDCT) by default: it keeps the 36 dB round-trip
/// goal at quality 90 (tests/video/JpegTest.cpp) and decodes 6-20% faster than the accurate one
/// for 1.4 dB less (`tsn_bench jpeg`, docs/shards.md).
class Decoder {
 public:
  explicit Decoder(bool fastDct = true);
  ~Decoder();
  Decoder(const Decoder&) = delete;
  Decoder& operator=(const Decoder&) = delete;

  /// The stored width and height of a JPEG image; false when `data` is not one.
  bool dimensions(const uint8_t* data, size_t size, int& width, int& height);

  /// `data` as an RGB 8-bit image of decodedSize(). VideoError (invalid data) naming the frame
  /// (`where()`) with TurboJPEG's reason when it is not a JPEG image or is damaged.
  cv::Mat decode(const uint8_t* data, size_t size, const Target& target,
                 const std::function<std::string()>& where);

  /// This thread's decoder (fast IDCT).
  static Decoder& forThisThread();

 private:
  void* handle_;
  int flags_;
};

class Encoder {
 public:
  Encoder();
  ~Encoder();
  Encoder(const Encoder&) = delete;
  Encoder& operator=(const Encoder&) = delete;

  /// `rgb` (8-bit, 3 channels) as a baseline JPEG at `quality` (1-100), 4:2:0 chroma: the
  /// same bytes for the same image, quality and libjpeg-turbo version.
  void encode(const cv::Mat& rgb, int quality, std::vector<uint8_t>& into);

  static Encoder& forThisThread();

 private:
  void* handle_;
};

}  // namespace tsn::jpeg
