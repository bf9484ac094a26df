#include "video/VideoReader.h"

#include <algorithm>
#include <cmath>

#include "common/Error.h"
#include "video/AvError.h"
#include "video/AvPtr.h"

namespace tsn {

using av::AvPtr;

cv::Size scaledSize(int width, int height, int shortSide) {
  if (shortSide <= 0) return {width, height};
  const double scale = static_cast<double>(shortSide) / std::min(width, height);
  const auto round = [scale](int v) {
    return std::max(1, static_cast<int>(std::lround(v * scale)));
  };
  return width <= height ? cv::Size(shortSide, round(height)) : cv::Size(round(width), shortSide);
}

struct VideoReader::State {
  VideoInfo info;
  DecodeStats stats;
  AvPtr<AVFormatContext> format;
  AvPtr<AVCodecContext> codec;
  AvPtr<AVPacket> packet{av_packet_alloc()};
  AvPtr<AVFrame> frame{av_frame_alloc()};
  AvPtr<SwsContext> sws;
  int streamIndex = -1;
  std::vector<int64_t> framePts;  ///< presentation timestamp of frame n, ascending
  int64_t position = -1;  ///< index of the frame the decoder returned last; -1: unknown (seek)
  bool drained = false;   ///< the decoder has returned its last frame

  const std::string& path() const { return info.path; }

  void open() {
    AVFormatContext* raw = nullptr;
    TSN_CHECK_AV(avformat_open_input(&raw, path().c_str(), nullptr, nullptr), path());
    format.reset(raw);
    TSN_CHECK_AV(avformat_find_stream_info(format.get(), nullptr), path());
    for (unsigned i = 0; i < format->nb_streams; ++i) {
      if (streamIndex < 0 && format->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_VIDEO) {
        streamIndex = static_cast<int>(i);
      } else {
        format->streams[i]->discard = AVDISCARD_ALL;
      }
    }
    if (streamIndex < 0) throw Error(fmt::format("{}: no video stream", path()));
    AVStream* stream = format->streams[streamIndex];
    const AVCodec* decoder = avcodec_find_decoder(stream->codecpar->codec_id);
    if (decoder == nullptr) {
      throw Error(fmt::format("{}: no decoder for codec {}", path(),
                              avcodec_get_name(stream->codecpar->codec_id)));
    }
    codec.reset(avcodec_alloc_context3(decoder));
    TSN_CHECK_AV(avcodec_parameters_to_context(codec.get(), stream->codecpar), path());
    // One decode thread per video: the loader runs several videos in parallel instead.
    codec->thread_count = 1;
    TSN_CHECK_AV(avcodec_open2(codec.get(), decoder, nullptr), path());

    info.width = stream->codecpar->width;
    info.height = stream->codecpar->height;
    info.codec = avcodec_get_name(stream->codecpar->codec_id);
    const AVRational rate =
        stream->avg_frame_rate.num > 0 ? stream->avg_frame_rate : stream->r_frame_rate;
    info.fps = rate.den > 0 ? av_q2d(rate) : 0;
    indexPackets(stream);
  }

  /// Reads every packet of the stream once (no decoding) for frame count and keyframes.
  void indexPackets(AVStream* stream) {
    std::vector<std::pair<int64_t, bool>> packets;  // (timestamp, keyframe)
    while (true) {
      const int rc = av_read_frame(format.get(), packet.get());
      if (rc == AVERROR_EOF) break;
      TSN_CHECK_AV(rc, path());
      // Packets flagged DISCARD (outside an MP4 edit list, say) decode to frames FFmpeg drops:
      // they are not frames of the video.
      if (packet->stream_index == streamIndex && !(packet->flags & AV_PKT_FLAG_DISCARD)) {
        const int64_t ts = packet->pts != AV_NOPTS_VALUE ? packet->pts : packet->dts;
        if (ts == AV_NOPTS_VALUE) {
          av_packet_unref(packet.get());
          throw Error(fmt::format("{}: video packet without timestamp", path()));
        }
        packets.emplace_back(ts, (packet->flags & AV_PKT_FLAG_KEY) != 0);
      }
      av_packet_unref(packet.get());
    }
    if (packets.empty()) throw Error(fmt::format("{}: video stream has no frames", path()));
    for (const auto& p : packets) framePts.push_back(p.first);
    std::sort(framePts.begin(), framePts.end());
    for (const auto& [ts, key] : packets) {
      if (key) info.keyframes.push_back(indexOf(ts));
    }
    std::sort(info.keyframes.begin(), info.keyframes.end());
    if (info.keyframes.empty() || info.keyframes.front() != 0)
      info.keyframes.insert(info.keyframes.begin(), 0);
    info.numFrames = static_cast<int64_t>(framePts.size());
    const double timeBase = av_q2d(stream->time_base);
    info.durationS = stream->duration != AV_NOPTS_VALUE
                         ? stream->duration * timeBase
                         : (framePts.back() - framePts.front()) * timeBase;
  }

  int64_t indexOf(int64_t pts) const {
    const auto it = std::lower_bound(framePts.begin(), framePts.end(), pts);
    if (it == framePts.end()) return static_cast<int64_t>(framePts.size()) - 1;
    return it - framePts.begin();
  }

  /// Index of the last keyframe at or before frame `index`, in info.keyframes.
  size_t keyframeSlot(int64_t index) const {
    const auto& k = info.keyframes;
    return static_cast<size_t>(std::upper_bound(k.begin(), k.end(), index) - k.begin()) - 1;
  }

  void seekToFrame(int64_t index) {
    TSN_CHECK_AV(av_seek_frame(format.get(), streamIndex, framePts[index], AVSEEK_FLAG_BACKWARD),
                 path());
    avcodec_flush_buffers(codec.get());
    position = -1;
    drained = false;
    ++stats.seeks;
  }

  /// Decodes the next frame into `frame`; false at the end of the stream.
  bool nextFrame() {
    while (!drained) {
      const int rc = avcodec_receive_frame(codec.get(), frame.get());
      if (rc == 0) {
        ++stats.framesDecoded;
        int64_t pts = frame->best_effort_timestamp;
        if (pts == AV_NOPTS_VALUE) pts = frame->pts;
        position = pts == AV_NOPTS_VALUE ? position + 1 : indexOf(pts);
        return true;
      }
      if (rc == AVERROR_EOF) {
        drained = true;
        break;
      }
      if (rc != AVERROR(EAGAIN)) TSN_CHECK_AV(rc, path());
      sendNextPacket();
    }
    return false;
  }

  void sendNextPacket() {
    while (true) {
      const int rc = av_read_frame(format.get(), packet.get());
      if (rc == AVERROR_EOF) {
        TSN_CHECK_AV(avcodec_send_packet(codec.get(), nullptr), path());
        return;
      }
      TSN_CHECK_AV(rc, path());
      if (packet->stream_index != streamIndex) {
        av_packet_unref(packet.get());
        continue;
      }
      const int sent = avcodec_send_packet(codec.get(), packet.get());
      av_packet_unref(packet.get());
      TSN_CHECK_AV(sent, path());
      return;
    }
  }

  cv::Mat convert(int shortSide) {
    const cv::Size size = scaledSize(frame->width, frame->height, shortSide);
    sws.reset(sws_getCachedContext(
        sws.release(), frame->width, frame->height, static_cast<AVPixelFormat>(frame->format),
        size.width, size.height, AV_PIX_FMT_RGB24, SWS_BILINEAR, nullptr, nullptr, nullptr));
    TSN_CHECK(sws != nullptr, "{}: cannot convert pixel format {}", path(),
              av_get_pix_fmt_name(static_cast<AVPixelFormat>(frame->format)));
    cv::Mat rgb(size, CV_8UC3);
    uint8_t* dst[] = {rgb.data};
    const int dstStride[] = {static_cast<int>(rgb.step)};
    sws_scale(sws.get(), frame->data, frame->linesize, 0, frame->height, dst, dstStride);
    ++stats.framesConverted;
    return rgb;
  }

  /// Decodes forward from the decoder's position to frame `target`; converts it.
  /// Returns an empty Mat if the decoder went past `target` without returning it.
  cv::Mat decodeForwardTo(int64_t target, int shortSide) {
    while (nextFrame()) {
      if (position == target) return convert(shortSide);
      if (position > target) break;
    }
    return {};
  }
};

VideoReader::VideoReader(const std::string& path) : state_(std::make_unique<State>()) {
  state_->info.path = path;
  av::initLogging();
  state_->open();
}

VideoReader::~VideoReader() = default;

const VideoInfo& VideoReader::info() const {
  return state_->info;
}
const DecodeStats& VideoReader::stats() const {
  return state_->stats;
}

std::vector<cv::Mat> VideoReader::decode(const std::vector<int64_t>& indices, int shortSide) {
  State& s = *state_;
  std::vector<int64_t> wanted = indices;
  std::sort(wanted.begin(), wanted.end());
  wanted.erase(std::unique(wanted.begin(), wanted.end()), wanted.end());

  std::vector<cv::Mat> frames(wanted.size());
  for (size_t i = 0; i < wanted.size(); ++i) {
    const int64_t target = wanted[i];
    TSN_CHECK(target >= 0 && target < s.info.numFrames, "{}: frame {} out of range [0, {})",
              s.path(), target, s.info.numFrames);
    size_t slot = s.keyframeSlot(target);
    // Carry on decoding when the decoder already sits in the target's GOP (or just before
    // it); otherwise jump to the keyframe. If a seek lands after the target (demuxers seek by
    // decode timestamps), step back one keyframe at a time.
    bool seek =
        !(s.position >= 0 && s.position >= s.info.keyframes[slot] - 1 && s.position < target);
    while (true) {
      if (seek) s.seekToFrame(s.info.keyframes[slot]);
      frames[i] = s.decodeForwardTo(target, shortSide);
      if (!frames[i].empty()) break;
      if (seek) {
        if (slot == 0)
          throw Error(fmt::format("{}: frame {} could not be decoded", s.path(), target));
        --slot;
      }
      seek = true;
    }
  }

  std::vector<cv::Mat> result;
  result.reserve(indices.size());
  for (const int64_t index : indices) {
    const auto at = std::lower_bound(wanted.begin(), wanted.end(), index) - wanted.begin();
    result.push_back(frames[at]);
  }
  return result;
}

}  // namespace tsn
