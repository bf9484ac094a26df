// VideoReader, first half: opening a file and indexing its packets (VideoReaderState.h).
#include "video/VideoReaderState.h"

extern "C" {
#include <libavutil/avstring.h>
#include <libavutil/display.h>
}

#include <algorithm>
#include <cmath>
#include <memory>

#include "common/Error.h"
#include "common/StageClock.h"
#include "common/Strings.h"
#include "video/InputFile.h"
#include "video/LeadingProbe.h"

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

/// The ffmpeg CLI's score for a video stream (fftools, map_auto_video): the picture's area, a
/// bonus for streams whose packets the probe saw and for the default stream.
int64_t cliScore(const AVStream* stream) {
  return int64_t{stream->codecpar->width} * stream->codecpar->height +
         100000000 * int64_t{(stream->event_flags & AVSTREAM_EVENT_FLAG_NEW_PACKETS) != 0} +
         5000000 * int64_t{(stream->disposition & AV_DISPOSITION_DEFAULT) != 0};
}

}  // namespace

void VideoReader::State::pickVideoStream() {
  // The stream the ffmpeg CLI maps: the best score, the first of equals. Attached pictures
  // (cover art, thumbnails) are streams of type video with one frame; the CLI ranks them last,
  // we never take them.
  int64_t best = -1;
  for (unsigned i = 0; i < format->nb_streams; ++i) {
    const AVStream* stream = format->streams[i];
    format->streams[i]->discard = AVDISCARD_ALL;
    if (stream->codecpar->codec_type != AVMEDIA_TYPE_VIDEO) continue;
    if (stream->disposition & AV_DISPOSITION_ATTACHED_PIC) {
      ++info.attachedPictures;
      continue;
    }
    ++info.videoStreams;
    if (cliScore(stream) > best) {
      best = cliScore(stream);
      streamIndex = static_cast<int>(i);
    }
  }
  if (streamIndex < 0) {
    throw VideoError(
        VideoFailure::NoVideoStream,
        info.attachedPictures > 0
            ? fmt::format("{}: no video stream, only {} attached picture{} (cover art)", path(),
                          info.attachedPictures, info.attachedPictures > 1 ? "s" : "")
            : fmt::format("{}: no video stream", path()));
  }
  format->streams[streamIndex]->discard = AVDISCARD_DEFAULT;
  info.streamIndex = streamIndex;
}

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
  pickVideoStream();
  AVStream* stream = format->streams[streamIndex];
  const AVCodec* decoder = avcodec_find_decoder(stream->codecpar->codec_id);
  if (decoder == nullptr) {
    throw VideoError(VideoFailure::UnsupportedCodec,
                     fmt::format("{}: no decoder for codec {}", path(),
                                 avcodec_get_name(stream->codecpar->codec_id)));
  }
  codec = openDecoder(decoder, stream);

  info.rotation = displayRotation(stream);
  const bool swap = info.rotation == 90 || info.rotation == 270;
  info.width = swap ? stream->codecpar->height : stream->codecpar->width;
  info.height = swap ? stream->codecpar->width : stream->codecpar->height;
  if (info.width <= 0 || info.height <= 0) {
    // Reading the stream information decoded nothing: parameter sets that never come (a TS
    // cut from an open-GOP MP4 carries them only before IDR frames), or no picture at all.
    throw VideoError(
        VideoFailure::EmptyVideo,
        fmt::format("{}: the video stream has no frame size: nothing in it decodes", path()));
  }
  info.codec = avcodec_get_name(stream->codecpar->codec_id);
  const char* pixFmt = av_get_pix_fmt_name(static_cast<AVPixelFormat>(stream->codecpar->format));
  info.pixelFormat = pixFmt != nullptr ? pixFmt : "unknown";
  const AVRational rate =
      stream->avg_frame_rate.num > 0 ? stream->avg_frame_rate : stream->r_frame_rate;
  info.fps = rate.den > 0 ? av_q2d(rate) : 0;
  indexPackets(stream);
}

av::AvPtr<AVCodecContext> VideoReader::State::openDecoder(const AVCodec* decoder,
                                                          const AVStream* stream) const {
  av::AvPtr<AVCodecContext> context(avcodec_alloc_context3(decoder));
  TSN_CHECK(context != nullptr, "{}: out of memory", path());
  TSN_CHECK_AV(avcodec_parameters_to_context(context.get(), stream->codecpar), path(),
               "cannot set up the decoder");
  // One decode thread per video: the loader runs several videos in parallel instead.
  context->thread_count = 1;
  if (options.skipLoopFilter) context->skip_loop_filter = AVDISCARD_ALL;
  TSN_CHECK_AV(avcodec_open2(context.get(), decoder, nullptr), path(), "cannot open the decoder");
  return context;
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
    bool discard;  ///< outside an MP4 edit list, say: decoded for reference, its frame dropped
  };
  std::vector<Packet> packets;
  // Which leading packets decode to nothing, found by decoding them; not needed where the
  // stream starts at an IDR picture, from which every packet decodes. The probe has a decoder
  // of its own: its made-up timestamps would skew the timestamp guessing
  // (best_effort_timestamp) of the one that decodes frames, which no flush resets.
  av::AvPtr<AVCodecContext> probeDecoder;
  std::unique_ptr<LeadingProbe> lead;
  while (true) {
    const int rc = av_read_frame(format.get(), packet.get());
    if (rc == AVERROR_EOF) break;
    checkTime();
    TSN_CHECK_AV(rc, path(), "cannot read");
    if (packet->stream_index == streamIndex) {
      packets.push_back({packet->pts, packet->dts, (packet->flags & AV_PKT_FLAG_KEY) != 0,
                         (packet->flags & AV_PKT_FLAG_DISCARD) != 0});
      if (packets.size() == 1 && !startsAtIdr(*stream->codecpar, *packet)) {
        probeDecoder = openDecoder(codec->codec, stream);
        lead = std::make_unique<LeadingProbe>(probeDecoder.get(), frame.get());
      }
      if (lead) lead->send(*packet);
    }
    av_packet_unref(packet.get());
  }
  if (lead) lead->finish();
  const int64_t firstOutput = lead ? lead->firstOutput : 0;
  const bool anyFrame =
      std::any_of(packets.begin(), packets.end(), [](const Packet& p) { return !p.discard; });
  if (!anyFrame) {
    throw VideoError(VideoFailure::EmptyVideo,
                     fmt::format("{}: video stream has no frames", path()));
  }
  if (firstOutput < 0) {
    throw VideoError(VideoFailure::EmptyVideo,
                     fmt::format("{}: none of the video stream's {} packets decodes to a frame "
                                 "(a clip cut after its last keyframe?)",
                                 path(), packets.size()));
  }
  const double timeBase = av_q2d(stream->time_base);
  // Without a presentation timestamp on every packet (AVI leaves them out of frames that
  // B-frames are reordered around; raw streams have none) the order is the decoder's alone.
  sequential = std::any_of(packets.begin(), packets.end(),
                           [](const Packet& p) { return !p.discard && p.pts == AV_NOPTS_VALUE; });
  // A frame is a packet the decoder turns into a picture it outputs. Not frames: packets
  // outside an edit list, and the leading packets a stream cut between keyframes starts with
  // (and an open GOP's leading pictures), which the decoder drops until it reaches a point it
  // can decode from.
  const auto isFrame = [&](size_t i) {
    return !packets[i].discard && !(lead && lead->dropped(i, sequential));
  };
  int64_t frames = 0;
  for (size_t i = 0; i < packets.size(); ++i) {
    if (isFrame(i)) {
      ++frames;
    } else if (!packets[i].discard) {
      ++info.leadingPacketsDropped;
    }
  }
  info.numFrames = frames;
  if (sequential) {
    info.seekable = false;
    info.keyframes = {0};
    keyframeDts = {AV_NOPTS_VALUE};
    info.durationS = info.fps > 0                         ? info.numFrames / info.fps
                     : stream->duration != AV_NOPTS_VALUE ? stream->duration * timeBase
                                                          : 0;
    return;
  }
  for (size_t i = 0; i < packets.size(); ++i) {
    if (isFrame(i)) framePts.push_back(packets[i].pts);
  }
  std::sort(framePts.begin(), framePts.end());
  std::vector<std::pair<int64_t, int64_t>> keys;  // (frame index, seek timestamp)
  for (size_t i = 0; i < packets.size(); ++i) {
    const Packet& p = packets[i];
    if (p.key && isFrame(i)) {
      keys.emplace_back(indexOf(p.pts), p.dts != AV_NOPTS_VALUE ? p.dts : p.pts);
    }
  }
  std::sort(keys.begin(), keys.end());
  // Frame 0 is where decoding starts, keyframe or not: its seek lands on the first packet
  // the decoder outputs (leading packets before it decode to nothing anyway).
  const Packet& first = packets[static_cast<size_t>(firstOutput)];
  if (keys.empty() || keys.front().first != 0) {
    keys.insert(keys.begin(), {0, first.dts != AV_NOPTS_VALUE ? first.dts : first.pts});
  }
  for (const auto& [index, ts] : keys) {
    info.keyframes.push_back(index);
    keyframeDts.push_back(ts);
  }
  // What decodes: from the first frame shown to the end of the last one, and where leading
  // packets were dropped, the mean rate of the frames left (the stream's rate counts them all).
  const double spanS = (framePts.back() - framePts.front()) * timeBase;
  info.durationS = spanS + (info.fps > 0 ? 1 / info.fps : 0);
  if (info.leadingPacketsDropped > 0 && info.numFrames > 1 && spanS > 0) {
    info.fps = (info.numFrames - 1) / spanS;
  }
}

}  // namespace tsn
