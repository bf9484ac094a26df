#include "video/LeadingProbe.h"

namespace tsn {
namespace {

/// An IDR picture's NAL unit type, from the unit's first header byte.
bool isIdr(AVCodecID codec, uint8_t header) {
  if (codec == AV_CODEC_ID_H264) return (header & 0x1f) == 5;
  const int type =
      (header >> 1) & 0x3f;  // HEVC: IDR_W_RADL (its leading pictures decode), IDR_N_LP
  return type == 19 || type == 20;
}

}  // namespace

bool startsAtIdr(const AVCodecParameters& parameters, const AVPacket& packet) {
  const AVCodecID codec = parameters.codec_id;
  if (codec != AV_CODEC_ID_H264 && codec != AV_CODEC_ID_HEVC) return false;
  const uint8_t* data = packet.data;
  const size_t size = packet.size > 0 ? static_cast<size_t>(packet.size) : 0;
  // How the units are framed is the stream's, as FFmpeg's parsers tell it: avcC / hvcC
  // extradata (version 1) means length prefixes (MP4, Matroska), anything else start codes.
  const uint8_t* extra = parameters.extradata;
  const size_t lengthAt = codec == AV_CODEC_ID_H264 ? 4 : 21;
  const bool lengthPrefixed =
      extra != nullptr && parameters.extradata_size > static_cast<int>(lengthAt) && extra[0] == 1;
  if (!lengthPrefixed) {
    // Annex B (MPEG-TS, raw streams): units after start codes 00 00 01.
    for (size_t i = 0; i + 3 < size; ++i) {
      if (data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 && isIdr(codec, data[i + 3])) {
        return true;
      }
    }
    return false;
  }
  const size_t lengthSize = (extra[lengthAt] & 3) + 1;
  for (size_t at = 0; at + lengthSize < size;) {
    size_t length = 0;
    for (size_t b = 0; b < lengthSize; ++b) length = length << 8 | data[at + b];
    if (length == 0) return false;
    if (isIdr(codec, data[at + lengthSize])) return true;
    at += lengthSize + length;
  }
  return false;
}

void LeadingProbe::send(AVPacket& packet) {
  const int64_t number = static_cast<int64_t>(pts_.size());
  pts_.push_back(packet.pts);
  output_.push_back(false);
  const bool frame = !(packet.flags & AV_PKT_FLAG_DISCARD);
  if (done_) return;
  if (firstKeyPts_ == AV_NOPTS_VALUE && frame && (packet.flags & AV_PKT_FLAG_KEY)) {
    firstKeyPts_ = packet.pts;
  }
  packet.pts = packet.dts = number;
  // Errors here are the leading packets' own (no parameter sets yet, references missing):
  // the decoder skips such a packet, as the ffmpeg CLI goes on past it.
  if (avcodec_send_packet(codec_, &packet) == AVERROR(EAGAIN)) {
    receive();
    avcodec_send_packet(codec_, &packet);
  }
  receive();
  if (firstOutput >= 0) ++sentSinceOutput_;
  if (settled()) finish();
}

void LeadingProbe::finish() {
  if (done_) return;
  done_ = true;
  sent_ = output_.size();
  judgedBefore_ = lastOutputPts_;
  avcodec_send_packet(codec_, nullptr);
  receive();
  if (judgedBefore_ == AV_NOPTS_VALUE) judgedBefore_ = lastOutputPts_;
}

bool LeadingProbe::dropped(size_t i, bool sequential) const {
  if (output_[i]) return false;
  if (sequential) return i < sent_;
  return pts_[i] != AV_NOPTS_VALUE && judgedBefore_ != AV_NOPTS_VALUE && pts_[i] < judgedBefore_;
}

bool LeadingProbe::settled() const {
  if (firstOutput < 0) return false;
  if (firstKeyPts_ != AV_NOPTS_VALUE && lastOutputPts_ != AV_NOPTS_VALUE &&
      lastOutputPts_ >= firstKeyPts_) {
    return true;
  }
  return sentSinceOutput_ >= kMaxSentAfterFirstOutput;
}

void LeadingProbe::receive() {
  while (avcodec_receive_frame(codec_, frame_) == 0) {
    const int64_t number = frame_->pts;
    if (number >= 0 && number < static_cast<int64_t>(output_.size())) {
      output_[static_cast<size_t>(number)] = true;
      if (firstOutput < 0) firstOutput = number;
      const int64_t pts = pts_[static_cast<size_t>(number)];
      if (pts != AV_NOPTS_VALUE && (lastOutputPts_ == AV_NOPTS_VALUE || pts > lastOutputPts_)) {
        lastOutputPts_ = pts;
      }
    }
    av_frame_unref(frame_);
  }
}

}  // namespace tsn
