#pragma once
/// @file RAII owners for FFmpeg objects: AvPtr<T> is a unique_ptr whose deleter is the matching
/// FFmpeg free function.

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
}

#include <memory>

namespace tsn::av {

template <class T>
struct Deleter;

template <>
struct Deleter<AVFormatContext> {
  // Contexts we opened for reading and contexts we allocated for writing free differently;
  // the reader and writer release those themselves and use this for the common part.
  void operator()(AVFormatContext* p) const { avformat_close_input(&p); }
};
template <>
struct Deleter<AVCodecContext> {
  void operator()(AVCodecContext* p) const { avcodec_free_context(&p); }
};
template <>
struct Deleter<AVFrame> {
  void operator()(AVFrame* p) const { av_frame_free(&p); }
};
template <>
struct Deleter<AVPacket> {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
template <>
struct Deleter<SwsContext> {
  void operator()(SwsContext* p) const { sws_freeContext(p); }
};

template <class T>
using AvPtr = std::unique_ptr<T, Deleter<T>>;

}  // namespace tsn::av
