// VideoReader, second half: seeking, decoding only what is wanted, converting
// (VideoReaderState.h).
#include "video/VideoReader.h"

#include <opencv2/imgproc.hpp>

#include <algorithm>

#include "common/Error.h"
#include "common/StageClock.h"
#include "video/VideoReaderState.h"

namespace tsn {

int64_t VideoReader::State::indexOf(int64_t pts) const {
  const auto it = std::lower_bound(framePts.begin(), framePts.end(), pts);
  if (it == framePts.end()) return static_cast<int64_t>(framePts.size()) - 1;
  return it - framePts.begin();
}

size_t VideoReader::State::keyframeSlot(int64_t index) const {
  const auto& k = info.keyframes;
  return static_cast<size_t>(std::upper_bound(k.begin(), k.end(), index) - k.begin()) - 1;
}

void VideoReader::State::seekToKeyframe(size_t slot, bool fromStart) {
  // No position until the seek or reopen succeeds (a failed reopen leaves no demuxer: the
  // next call opens it again).
  position = -1;
  // A demuxer that cannot seek there (MP4 refuses a timestamp with no keyframe at or before
  // it: a clip that starts between keyframes) starts from the top of the file instead.
  if (sequential || fromStart ||
      av_seek_frame(format.get(), streamIndex,
                    seekByDts ? keyframeDts[slot] : framePts[info.keyframes[slot]],
                    AVSEEK_FLAG_BACKWARD) < 0) {
    openDemuxer(/*probe=*/!sequential);
  }
  avcodec_flush_buffers(codec.get());
  drained = false;
  ++stats.seeks;
}

bool VideoReader::State::nextFrame(const Request& request) {
  while (!drained) {
    checkTime();
    const int rc = avcodec_receive_frame(codec.get(), frame.get());
    if (rc == 0) {
      ++stats.framesDecoded;
      int64_t pts = frame->best_effort_timestamp;
      if (pts == AV_NOPTS_VALUE) pts = frame->pts;
      if (beforeFirstFrame(pts)) continue;  // a leading picture no frame index counts
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

void VideoReader::State::sendNextPacket(const Request& request) {
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
    // The leading packets of a clip cut between keyframes may not decode at all (a TS cut
    // before its first parameter sets): the decoder skips them, as indexing found.
    const bool leading =
        info.leadingPacketsDropped > 0 && (sequential ? position < 0 : beforeFirstFrame(ts));
    if (!leading) TSN_CHECK_AV(sent, path(), "cannot decode");
    return;
  }
}

cv::Mat VideoReader::State::convert(const Request& request) {
  const StageClock::Scope timed(Stage::Convert);
  // Scale straight to the wanted size, before rotating: the short side is the same before
  // and after a quarter turn, and an exact size turns with the picture.
  const bool quarter = info.rotation == 90 || info.rotation == 270;
  const cv::Size exact = request.exactSize;
  const cv::Size size = exact.area() > 0
                            ? (quarter ? cv::Size(exact.height, exact.width) : exact)
                            : scaledSize(frame->width, frame->height, request.shortSide);
  sws.reset(sws_getCachedContext(sws.release(), frame->width, frame->height,
                                 static_cast<AVPixelFormat>(frame->format), size.width, size.height,
                                 AV_PIX_FMT_RGB24, SWS_BILINEAR, nullptr, nullptr, nullptr));
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

cv::Mat VideoReader::State::decodeForwardTo(int64_t target, const Request& request) {
  while (nextFrame(request)) {
    if (position == target) return convert(request);
    if (position > target) break;
  }
  return {};
}

VideoReader::VideoReader(const std::string& path, const ReaderOptions& options)
    : state_(std::make_unique<State>()) {
  av::initLogging();
  state_->info.path = path;
  state_->options = options;
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
    // it); otherwise seek to its keyframe. A seek that lands past the target (demuxers that
    // seek by decode timestamps) retries by decode timestamp, then one keyframe earlier at a
    // time, and at last from the reopened file.
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
