// VideoReader, first half: opening a file and indexing its packets (VideoReaderState.h).
#include "video/VideoReaderState.h"

extern "C" {
#include <libavutil/avstring.h>
#include <libavutil/display.h>
}

#include <algorithm>
#include <cmath>

#include "common/Error.h"
#include "common/StageClock.h"
#include "common/Strings.h"
#include "video/InputFile.h"

namespace tsn {
namespace {

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

void VideoReader::State::startClock() {
  if (options.deadline != Clock::time_point{}) {
    deadline = options.deadline;
  } else if (options.timeoutS > 0) {
    deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                  std::chrono::duration<double>(options.timeoutS));
  } else {
    deadline = Clock::time_point::max();
  }
}

void VideoReader::State::checkTime() const {
  if (late()) {
    throw VideoError(
        VideoFailure::Timeout,
        fmt::format("{}: decoding took longer than the {} s limit", path(), options.timeoutS));
  }
}

void VideoReader::State::open() {
  startClock();
  requireRegularFile(path());
  openDemuxer();
  {
    const StageClock::Scope timed(Stage::Probe);
    TSN_CHECK_AV(avformat_find_stream_info(format.get(), nullptr), path(),
                 "cannot read stream information");
  }
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
  if (options.skipLoopFilter) codec->skip_loop_filter = AVDISCARD_ALL;
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

void VideoReader::State::openDemuxer(bool probe) {
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

void VideoReader::State::refuseUnlistedContainer() {
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
                  options.containersSetting, fmt::join(split(options.containers, ','), ", "), name,
                  options.containersSetting,
                  opensOthers ? " (it opens the files its playlist or pattern names: allow it "
                                "only for lists you trust)"
                              : ""));
}

void VideoReader::State::indexPackets(AVStream* stream) {
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

}  // namespace tsn
