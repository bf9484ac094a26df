#pragma once
/// @file Inside VideoReader: which of a video's first packets decode to nothing. Not for use
/// outside src/video.

extern "C" {
#include <libavcodec/avcodec.h>
}

#include <cstdint>
#include <vector>

namespace tsn {

/// Feeds a video's first packets to a decoder as they are read, to learn which of them decode to
/// nothing. A stream cut between keyframes starts with packets the decoder drops until it reaches
/// a point it can decode from, and only the decoder knows where that is: an IDR, a recovery point
/// SEI, an HEVC CRA whose leading pictures it drops, or a key flag that promised too much.
/// Decoders output pictures in presentation order, so once a picture is out, a picture shown
/// before it that is not out never will be: the probe goes on until the first keyframe's picture
/// (or one after it) is out, and judges every packet shown before the last picture out. Each
/// packet goes in with its number in the stream as timestamp, so a picture names its packet.
class LeadingProbe {
 public:
  LeadingProbe(AVCodecContext* codec, AVFrame* frame) : codec_(codec), frame_(frame) {}

  /// The next packet of the stream, in file order (its timestamps are overwritten).
  void send(AVPacket& packet);

  /// Stops probing: at the end of the stream, or once the leading packets are judged. Drains
  /// the decoder (a video of one frame gives its picture only then).
  void finish();

  /// Packet `i` decodes to nothing: with timestamps, no picture came from it although one shown
  /// after it did; without (the decoder's order is all there is), none came from it at all.
  bool dropped(size_t i, bool sequential) const;

  /// The packet of the decoder's first picture, -1 while there is none.
  int64_t firstOutput = -1;

 private:
  /// Every packet shown before the first keyframe is judged, or the decoder has gone well past
  /// its first picture (a stream without key flags).
  bool settled() const;
  void receive();

  static constexpr int kMaxSentAfterFirstOutput = 32;
  AVCodecContext* codec_;
  AVFrame* frame_;
  std::vector<int64_t> pts_;  ///< per packet read: its presentation timestamp
  std::vector<bool> output_;  ///< per packet read: a picture came from it
  int64_t firstKeyPts_ = AV_NOPTS_VALUE;
  int64_t lastOutputPts_ = AV_NOPTS_VALUE;
  int64_t judgedBefore_ = AV_NOPTS_VALUE;  ///< packets shown before this are judged
  int sentSinceOutput_ = 0;
  size_t sent_ = 0;  ///< packets that went into the decoder
  bool done_ = false;
};

/// The packet, the first of an H.264 or HEVC stream, holds an IDR picture: nothing after it
/// refers to anything before it, so no packet of the stream decodes to nothing and no probe is
/// needed. False for every other codec and picture (the probe then finds out).
bool startsAtIdr(const AVCodecParameters& parameters, const AVPacket& packet);

}  // namespace tsn
