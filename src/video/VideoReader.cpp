#include "video/VideoReader.h"

extern "C" {
#include <libavutil/avstring.h>
#include <libavutil/display.h>
}

#include <opencv2/core.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <unordered_set>

#include "common/Error.h"
#include "common/Strings.h"
#include "video/AvError.h"
#include "video/AvPtr.h"
#include "video/InputFile.h"

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

namespace {

using Clock = std::chrono::steady_clock;

/// Clockwise rotation in degrees (0, 90, 180, 270) a player applies to the stream's frames.
int displayRotation(const AVStream* stream) {
  const uint8_t* matrix = nullptr;
#if LIBAVFORMAT_VERSION_MAJOR >= 61
  const AVPacketSideData* sd =
      av_packet_side_data_get(stream->codecpar->coded_side_data,
                              stream->codecpar->nb_coded_side_data, AV_PKT_DATA_DISPLAYMATRIX);
  if (sd != nullptr && sd->size >= 9 * 4) matrix = sd->data;
#else
  size_t size = 0;
  matrix = av_stream_get_side_data(stream, AV_PKT_DATA_DISPLAYMATRIX, &size);
  if (size < 9 * 4) matrix = nullptr;
#endif
  if (matrix == nullptr) return 0;
  // av_display_rotation_get is counter-clockwise; players turn the picture the other way.
  const double ccw = av_display_rotation_get(reinterpret_cast<const int32_t*>(matrix));
  if (std::isnan(ccw)) return 0;
  int cw = static_cast<int>(std::lround(-ccw)) % 360;
  if (cw < 0) cw += 360;
  return (cw + 45) / 90 * 90 % 360;
}

}  // namespace

/// What one decode() call wants: the frames, and the size to convert them to.
struct VideoReader::Request {
  std::unordered_set<int64_t> wanted;
  int shortSide = 0;   ///< short side scaled to this (0: native) ...
  cv::Size exactSize;  ///< ... unless this is set (as displayed)
};

struct VideoReader::State {
  VideoInfo info;
  ReaderOptions options;
  DecodeStats stats;
  AvPtr<AVFormatContext> format;
  AvPtr<AVCodecContext> codec;
  AvPtr<AVPacket> packet{av_packet_alloc()};
  AvPtr<AVFrame> frame{av_frame_alloc()};
  AvPtr<SwsContext> sws;
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

  void startClock() {
    deadline = options.timeoutS > 0
                   ? Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(options.timeoutS))
                   : Clock::time_point::max();
  }
  bool late() const { return Clock::now() > deadline; }
  void checkTime() const {
    if (late()) {
      throw VideoError(
          VideoFailure::Timeout,
          fmt::format("{}: decoding took longer than the {} s limit", path(), options.timeoutS));
    }
  }

  /// Opens the container (again, when rewinding): only local files of allowed demuxers. With
  /// `probe`, reads stream information as the first open did (timestamps FFmpeg derives can
  /// depend on it).
  void openDemuxer(bool probe = false) {
    format.reset();
    // The interrupt callback ends blocking FFmpeg calls (open, probe, read) past the deadline.
    AVFormatContext* raw = avformat_alloc_context();
    TSN_CHECK(raw != nullptr, "{}: out of memory", path());
    raw->interrupt_callback = {[](void* self) { return static_cast<State*>(self)->late() ? 1 : 0; },
                               this};
    AVDictionary* settings = nullptr;
    av_dict_set(&settings, "protocol_whitelist", "file", 0);
    if (!options.containers.empty()) {
      av_dict_set(&settings, "format_whitelist", options.containers.c_str(), 0);
    }
    const int rc = avformat_open_input(&raw, path().c_str(), nullptr, &settings);
    av_dict_free(&settings);
    if (rc < 0) {  // avformat_open_input freed the context
      checkTime();
      refuseUnlistedContainer();
      TSN_CHECK_AV(rc, path(), "cannot open");
    }
    format.reset(raw);
    if (probe) {
      TSN_CHECK_AV(avformat_find_stream_info(format.get(), nullptr), path(),
                   "cannot read stream information");
    }
    for (unsigned i = 0; streamIndex >= 0 && i < format->nb_streams; ++i) {
      if (static_cast<int>(i) != streamIndex) format->streams[i]->discard = AVDISCARD_ALL;
    }
  }

  /// Throws UnsupportedContainer naming the detected format and the setting that allows it when
  /// the file's container is not among the allowed ones.
  void refuseUnlistedContainer() {
    if (options.containers.empty()) return;
    AVIOContext* io = nullptr;
    AVDictionary* settings = nullptr;
    av_dict_set(&settings, "protocol_whitelist", "file", 0);
    const AVIOInterruptCB interrupt = {
        [](void* self) { return static_cast<State*>(self)->late() ? 1 : 0; }, this};
    const AVInputFormat* detected = nullptr;
    if (avio_open2(&io, path().c_str(), AVIO_FLAG_READ, &interrupt, &settings) >= 0) {
      if (av_probe_input_buffer2(io, &detected, path().c_str(), nullptr, 0, 0) < 0) {
        detected = nullptr;
      }
      avio_closep(&io);
    }
    av_dict_free(&settings);
    if (detected == nullptr || av_match_list(detected->name, options.containers.c_str(), ',') > 0) {
      return;
    }
    const std::string names = detected->name;
    const std::string name = names.substr(0, names.find(','));
    // Demuxers that read other files or URLs named inside the one listed.
    const bool opensOthers = av_match_list(detected->name, "hls,dash,concat,image2,mpd", ',') > 0;
    throw VideoError(
        VideoFailure::UnsupportedContainer,
        fmt::format("{}: container '{}' ({}) is not among the allowed containers ({}: {}); "
                    "add '{}' to {} to read it{}",
                    path(), name, detected->long_name ? detected->long_name : names,
                    options.containersSetting, fmt::join(split(options.containers, ','), ", "),
                    name, options.containersSetting,
                    opensOthers ? " (it opens the files its playlist or pattern names: allow it "
                                  "only for lists you trust)"
                                : ""));
  }

  void open() {
    startClock();
    requireRegularFile(path());
    openDemuxer();
    TSN_CHECK_AV(avformat_find_stream_info(format.get(), nullptr), path(),
                 "cannot read stream information");
    info.container = format->iformat->name;
    for (unsigned i = 0; i < format->nb_streams; ++i) {
      if (streamIndex < 0 && format->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_VIDEO) {
        streamIndex = static_cast<int>(i);
        format->streams[i]->discard = AVDISCARD_DEFAULT;
      } else {
        format->streams[i]->discard = AVDISCARD_ALL;
      }
    }
    if (streamIndex < 0) {
      throw VideoError(VideoFailure::NoVideoStream, fmt::format("{}: no video stream", path()));
    }
    AVStream* stream = format->streams[streamIndex];
    const AVCodec* decoder = avcodec_find_decoder(stream->codecpar->codec_id);
    if (decoder == nullptr) {
      throw VideoError(VideoFailure::UnsupportedCodec,
                       fmt::format("{}: no decoder for codec {}", path(),
                                   avcodec_get_name(stream->codecpar->codec_id)));
    }
    codec.reset(avcodec_alloc_context3(decoder));
    TSN_CHECK_AV(avcodec_parameters_to_context(codec.get(), stream->codecpar), path(),
                 "cannot set up the decoder");
    // One decode thread per video: the loader runs several videos in parallel instead.
    codec->thread_count = 1;
    TSN_CHECK_AV(avcodec_open2(codec.get(), decoder, nullptr), path(), "cannot open the decoder");

    info.rotation = displayRotation(stream);
    const bool swap = info.rotation == 90 || info.rotation == 270;
    info.width = swap ? stream->codecpar->height : stream->codecpar->width;
    info.height = swap ? stream->codecpar->width : stream->codecpar->height;
    TSN_CHECK(info.width > 0 && info.height > 0, "{}: video has no frame size", path());
    info.codec = avcodec_get_name(stream->codecpar->codec_id);
    const char* pixFmt = av_get_pix_fmt_name(static_cast<AVPixelFormat>(stream->codecpar->format));
    info.pixelFormat = pixFmt != nullptr ? pixFmt : "unknown";
    const AVRational rate =
        stream->avg_frame_rate.num > 0 ? stream->avg_frame_rate : stream->r_frame_rate;
    info.fps = rate.den > 0 ? av_q2d(rate) : 0;
    indexPackets(stream);
  }

  /// Reads every packet of the stream once (no decoding) for frame count and keyframes.
  void indexPackets(AVStream* stream) {
    struct Packet {
      int64_t pts, dts;
      bool key;
    };
    std::vector<Packet> packets;
    while (true) {
      const int rc = av_read_frame(format.get(), packet.get());
      if (rc == AVERROR_EOF) break;
      checkTime();
      TSN_CHECK_AV(rc, path(), "cannot read");
      // Packets flagged DISCARD (outside an MP4 edit list, say) decode to frames FFmpeg drops:
      // they are not frames of the video.
      if (packet->stream_index == streamIndex && !(packet->flags & AV_PKT_FLAG_DISCARD)) {
        packets.push_back({packet->pts, packet->dts, (packet->flags & AV_PKT_FLAG_KEY) != 0});
      }
      av_packet_unref(packet.get());
    }
    if (packets.empty()) {
      throw VideoError(VideoFailure::EmptyVideo,
                       fmt::format("{}: video stream has no frames", path()));
    }
    info.numFrames = static_cast<int64_t>(packets.size());
    const double timeBase = av_q2d(stream->time_base);
    // Without a presentation timestamp on every packet (AVI leaves them out of frames that
    // B-frames are reordered around; raw streams have none) the order is the decoder's alone.
    sequential = std::any_of(packets.begin(), packets.end(),
                             [](const Packet& p) { return p.pts == AV_NOPTS_VALUE; });
    if (sequential) {
      info.seekable = false;
      info.keyframes = {0};
      keyframeDts = {AV_NOPTS_VALUE};
      info.durationS = stream->duration != AV_NOPTS_VALUE ? stream->duration * timeBase
                       : info.fps > 0                     ? info.numFrames / info.fps
                                                          : 0;
      return;
    }
    for (const auto& p : packets) framePts.push_back(p.pts);
    std::sort(framePts.begin(), framePts.end());
    std::vector<std::pair<int64_t, int64_t>> keys;  // (frame index, seek timestamp)
    for (const auto& p : packets) {
      if (p.key) keys.emplace_back(indexOf(p.pts), p.dts != AV_NOPTS_VALUE ? p.dts : p.pts);
    }
    std::sort(keys.begin(), keys.end());
    if (keys.empty() || keys.front().first != 0) keys.insert(keys.begin(), {0, framePts.front()});
    for (const auto& [index, ts] : keys) {
      info.keyframes.push_back(index);
      keyframeDts.push_back(ts);
    }
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

  /// Positions the demuxer at keyframe `slot` of info.keyframes; slot 0 of a sequential video
  /// (and `fromStart`) reopens the file, the one start position every demuxer gets right.
  void seekToKeyframe(size_t slot, bool fromStart = false) {
    // Until the reopen succeeds the reader has no position (a failed one leaves no demuxer:
    // the next call opens it again).
    position = -1;
    if (sequential || fromStart) {
      openDemuxer(/*probe=*/!sequential);
    } else {
      const int64_t ts = seekByDts ? keyframeDts[slot] : framePts[info.keyframes[slot]];
      TSN_CHECK_AV(av_seek_frame(format.get(), streamIndex, ts, AVSEEK_FLAG_BACKWARD), path(),
                   "cannot seek");
    }
    avcodec_flush_buffers(codec.get());
    position = -1;
    drained = false;
    ++stats.seeks;
  }

  /// Decodes the next frame into `frame`; false at the end of the stream.
  bool nextFrame(const Request& request) {
    while (!drained) {
      checkTime();
      const int rc = avcodec_receive_frame(codec.get(), frame.get());
      if (rc == 0) {
        ++stats.framesDecoded;
        int64_t pts = frame->best_effort_timestamp;
        if (pts == AV_NOPTS_VALUE) pts = frame->pts;
        position = sequential || pts == AV_NOPTS_VALUE ? position + 1 : indexOf(pts);
        return true;
      }
      if (rc == AVERROR_EOF) {
        drained = true;
        break;
      }
      if (rc != AVERROR(EAGAIN)) TSN_CHECK_AV(rc, path(), "cannot decode");
      sendNextPacket(request);
    }
    return false;
  }

  void sendNextPacket(const Request& request) {
    while (true) {
      const int rc = av_read_frame(format.get(), packet.get());
      if (rc == AVERROR_EOF) {
        TSN_CHECK_AV(avcodec_send_packet(codec.get(), nullptr), path(), "cannot decode");
        return;
      }
      checkTime();
      TSN_CHECK_AV(rc, path(), "cannot read");
      if (packet->stream_index != streamIndex) {
        av_packet_unref(packet.get());
        continue;
      }
      // A frame nothing refers to and nobody asked for need not be decoded at all (H.264
      // and HEVC honour this per packet). Sequential videos count every frame returned.
      const int64_t ts = packet->pts != AV_NOPTS_VALUE ? packet->pts : packet->dts;
      const bool keep = sequential || ts == AV_NOPTS_VALUE || request.wanted.count(indexOf(ts)) > 0;
      codec->skip_frame = keep ? AVDISCARD_DEFAULT : AVDISCARD_NONREF;
      const int sent = avcodec_send_packet(codec.get(), packet.get());
      av_packet_unref(packet.get());
      TSN_CHECK_AV(sent, path(), "cannot decode");
      return;
    }
  }

  cv::Mat convert(const Request& request) {
    // Scale straight to the wanted size, before rotating: the short side is the same before
    // and after a quarter turn, and an exact size turns with the picture.
    const bool quarter = info.rotation == 90 || info.rotation == 270;
    const cv::Size exact = request.exactSize;
    const cv::Size size = exact.area() > 0
                              ? (quarter ? cv::Size(exact.height, exact.width) : exact)
                              : scaledSize(frame->width, frame->height, request.shortSide);
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
    if (info.rotation == 0) return rgb;
    cv::Mat turned;
    cv::rotate(rgb, turned,
               info.rotation == 90    ? cv::ROTATE_90_CLOCKWISE
               : info.rotation == 180 ? cv::ROTATE_180
                                      : cv::ROTATE_90_COUNTERCLOCKWISE);
    return turned;
  }

  /// Decodes forward from the decoder's position to frame `target`; converts it.
  /// Returns an empty Mat if the decoder went past `target` without returning it.
  cv::Mat decodeForwardTo(int64_t target, const Request& request) {
    while (nextFrame(request)) {
      if (position == target) return convert(request);
      if (position > target) break;
    }
    return {};
  }
};

VideoReader::VideoReader(const std::string& path, const ReaderOptions& options)
    : state_(std::make_unique<State>()) {
  av::initLogging();
  state_->info.path = path;
  state_->options = options;
  state_->open();
}

VideoReader::~VideoReader() = default;

void VideoReader::setTimeout(double seconds) {
  state_->options.timeoutS = seconds;
}

const VideoInfo& VideoReader::info() const {
  return state_->info;
}
const DecodeStats& VideoReader::stats() const {
  return state_->stats;
}

std::vector<cv::Mat> VideoReader::decode(const std::vector<int64_t>& indices, int shortSide) {
  Request request;
  request.shortSide = shortSide;
  return decodeFrames(indices, request);
}

std::vector<cv::Mat> VideoReader::decode(const std::vector<int64_t>& indices, cv::Size size) {
  TSN_CHECK(size.width > 0 && size.height > 0, "{}: output size {}x{} must be positive",
            state_->path(), size.width, size.height);
  Request request;
  request.exactSize = size;
  return decodeFrames(indices, request);
}

std::vector<cv::Mat> VideoReader::decodeFrames(const std::vector<int64_t>& indices,
                                               Request& request) {
  State& s = *state_;
  s.startClock();
  if (!s.format) s.openDemuxer(/*probe=*/!s.sequential);  // an earlier reopen failed
  std::vector<int64_t> wanted = indices;
  std::sort(wanted.begin(), wanted.end());
  wanted.erase(std::unique(wanted.begin(), wanted.end()), wanted.end());
  request.wanted = {wanted.begin(), wanted.end()};

  std::vector<cv::Mat> frames(wanted.size());
  for (size_t i = 0; i < wanted.size(); ++i) {
    const int64_t target = wanted[i];
    TSN_CHECK(target >= 0 && target < s.info.numFrames, "{}: frame {} out of range [0, {})",
              s.path(), target, s.info.numFrames);
    size_t slot = s.keyframeSlot(target);
    // Carry on decoding when the decoder already sits in the target's GOP (or just before
    // it); otherwise jump to the keyframe. If a seek lands after the target (demuxers seek by
    // decode timestamps), step back one keyframe at a time.
    // A seek that misses retries by decode timestamp, then one keyframe earlier; when even
    // the first keyframe's misses, decoding starts from the reopened file.
    bool seek =
        !(s.position >= 0 && s.position >= s.info.keyframes[slot] - 1 && s.position < target);
    bool fromStart = false;
    while (true) {
      if (seek) s.seekToKeyframe(slot, fromStart);
      frames[i] = s.decodeForwardTo(target, request);
      if (!frames[i].empty()) break;
      if (seek) {
        if (!s.sequential && !fromStart && !s.seekByDts &&
            s.keyframeDts[slot] != s.framePts[s.info.keyframes[slot]]) {
          s.seekByDts = true;
        } else if (slot > 0) {
          --slot;
        } else if (!fromStart && !s.sequential) {
          fromStart = true;
        } else {
          throw VideoError(VideoFailure::UndecodableFrame,
                           fmt::format("{}: frame {} could not be decoded", s.path(), target));
        }
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
