#pragma once
/// @file Inside VideoReader: the state of one open video and the steps that act on it, in two
/// files: VideoOpen.cpp opens and indexes, VideoReader.cpp seeks, decodes and converts. Not for
/// use outside src/video.

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libswscale/swscale.h>
}

#include <opencv2/core.hpp>

#include <chrono>
#include <string>
#include <unordered_set>
#include <vector>

#include "video/AvError.h"
#include "video/AvPtr.h"
#include "video/VideoReader.h"

namespace tsn {

/// What one decode() call wants: the frames, and the size to convert them to.
struct VideoReader::Request {
  std::unordered_set<int64_t> wanted;
  int shortSide = 0;   ///< short side scaled to this (0: native) ...
  cv::Size exactSize;  ///< ... unless this is set (as displayed)
};

struct VideoReader::State {
  using Clock = std::chrono::steady_clock;

  VideoInfo info;
  ReaderOptions options;
  DecodeStats stats;
  av::AvPtr<AVFormatContext> format;
  av::AvPtr<AVCodecContext> codec;
  av::AvPtr<AVPacket> packet{av_packet_alloc()};
  av::AvPtr<AVFrame> frame{av_frame_alloc()};
  av::AvPtr<SwsContext> sws;
  int streamIndex = -1;
  std::vector<int64_t> framePts;  ///< presentation timestamp of frame n, ascending
  /// Per entry of info.keyframes: the keyframe's decode timestamp (its presentation timestamp
  /// where it has none).
  std::vector<int64_t> keyframeDts;
  /// Demuxers seek by presentation (MP4, Matroska) or by decode timestamps (MPEG-TS/PS): the
  /// first seek that lands after its keyframe by one switches to the other.
  bool seekByDts = false;
  /// Frames are numbered in the order the decoder returns them from the start of the file,
  /// since the packets carry no usable presentation timestamps (AVI with B-frames, raw
  /// elementary streams): the only seek is back to the start.
  bool sequential = false;
  int64_t position = -1;  ///< index of the frame the decoder returned last; -1: unknown (seek)
  bool drained = false;   ///< the decoder has returned its last frame
  /// The current call's deadline: a member, since FFmpeg's interrupt callback reads it.
  Clock::time_point deadline = Clock::time_point::max();

  const std::string& path() const { return info.path; }

  // VideoOpen.cpp
  /// Starts the deadline of a call: options.deadline when set, else options.timeoutS from now.
  void startClock();
  bool late() const { return Clock::now() > deadline; }
  /// Throws VideoError (timed out) past the deadline.
  void checkTime() const;
  /// Opens the file, its decoder, and indexes its packets.
  void open();
  /// A decoder for `stream`, set up as every decoder of the reader is.
  av::AvPtr<AVCodecContext> openDecoder(const AVCodec* decoder, const AVStream* stream) const;
  /// Opens the container (again, when rewinding): only local files of allowed demuxers. With
  /// `probe`, reads stream information as the first open did (timestamps FFmpeg derives can
  /// depend on it).
  void openDemuxer(bool probe = false);
  /// Throws UnsupportedContainer naming the detected format and the setting that allows it when
  /// the file's container is not among the allowed ones.
  void refuseUnlistedContainer();
  /// Picks the video stream the ffmpeg CLI would (never an attached picture); throws
  /// NoVideoStream without one.
  void pickVideoStream();
  /// Reads every packet of the stream once for frame count and keyframes, decoding only the
  /// first ones: the leading packets that decode to nothing are not frames.
  void indexPackets(AVStream* stream);

  // VideoReader.cpp
  /// Index of the frame with presentation timestamp `pts`.
  int64_t indexOf(int64_t pts) const;
  /// A packet or picture with timestamp `ts` comes before the first frame: a leading one that
  /// decodes to nothing (the decoder may still need it as a reference).
  bool beforeFirstFrame(int64_t ts) const {
    return !sequential && ts != AV_NOPTS_VALUE && ts < framePts.front();
  }
  /// Index of the last keyframe at or before frame `index`, in info.keyframes.
  size_t keyframeSlot(int64_t index) const;
  /// Positions the demuxer at keyframe `slot` of info.keyframes; slot 0 of a sequential video
  /// (and `fromStart`) reopens the file, the one start position every demuxer gets right.
  void seekToKeyframe(size_t slot, bool fromStart = false);
  /// Decodes the next frame into `frame`; false at the end of the stream.
  bool nextFrame(const Request& request);
  void sendNextPacket(const Request& request);
  /// `frame` as RGB, scaled as `request` says and turned upright.
  cv::Mat convert(const Request& request);
  /// Decodes forward from the decoder's position to frame `target`; converts it. Returns an
  /// empty Mat if the decoder went past `target` without returning it.
  cv::Mat decodeForwardTo(int64_t target, const Request& request);
};

}  // namespace tsn
