#include "video/VideoWriter.h"

extern "C" {
#include <libavutil/display.h>
#include <libavutil/opt.h>
}

#include "common/Error.h"
#include "common/Logging.h"
#include "video/AvError.h"
#include "video/AvPtr.h"

namespace tsn {

using av::AvPtr;

namespace {
/// An output context owns its AVIOContext; free both.
struct OutputDeleter {
  void operator()(AVFormatContext* p) const {
    if (p->pb != nullptr && !(p->oformat->flags & AVFMT_NOFILE)) avio_closep(&p->pb);
    avformat_free_context(p);
  }
};
}  // namespace

struct VideoWriter::State {
  std::string path;
  VideoWriterOptions options;
  std::unique_ptr<AVFormatContext, OutputDeleter> format;
  AvPtr<AVCodecContext> codec;
  AvPtr<AVFrame> frame{av_frame_alloc()};
  AvPtr<AVPacket> packet{av_packet_alloc()};
  AvPtr<SwsContext> sws;
  AVStream* stream = nullptr;
  int64_t nextPts = 0;
  bool closed = false;

  void writePackets() {
    while (true) {
      const int rc = avcodec_receive_packet(codec.get(), packet.get());
      if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return;
      TSN_CHECK_AV(rc, path, "cannot encode");
      // One frame per tick of the codec time base. Without a duration the MP4 muxer's edit
      // list ends at the last frame's start and readers drop that frame.
      if (packet->duration == 0) packet->duration = 1;
      av_packet_rescale_ts(packet.get(), codec->time_base, stream->time_base);
      packet->stream_index = stream->index;
      TSN_CHECK_AV(av_interleaved_write_frame(format.get(), packet.get()), path, "cannot write");
    }
  }
};

VideoWriter::VideoWriter(const std::string& path, const VideoWriterOptions& options)
    : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.path = path;
  av::initLogging();
  s.options = options;
  TSN_CHECK(
      options.width > 0 && options.height > 0 && options.width % 2 == 0 && options.height % 2 == 0,
      "{}: frame size {}x{} must be positive and even", path, options.width, options.height);

  AVFormatContext* raw = nullptr;
  TSN_CHECK_AV(avformat_alloc_output_context2(&raw, nullptr, nullptr, path.c_str()), path,
               "no container format for this file name");
  s.format.reset(raw);

  const AVCodec* encoder = avcodec_find_encoder_by_name(options.encoder.c_str());
  TSN_CHECK(encoder != nullptr, "{}: FFmpeg has no encoder '{}'", path, options.encoder);
  s.stream = avformat_new_stream(s.format.get(), nullptr);
  TSN_CHECK(s.stream != nullptr, "{}: cannot add a stream", path);
  s.codec.reset(avcodec_alloc_context3(encoder));
  AVCodecContext& c = *s.codec;
  c.width = options.width;
  c.height = options.height;
  c.pix_fmt = AV_PIX_FMT_YUV420P;
  c.time_base = AVRational{1, options.fps};
  c.framerate = AVRational{options.fps, 1};
  c.gop_size = options.gop;
  c.max_b_frames = options.maxBFrames;
  c.thread_count = 1;  // bit-identical output for a seed, whatever the machine
  if (s.format->oformat->flags & AVFMT_GLOBALHEADER) c.flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  if (options.encoder == "libx264") {
    av_opt_set(c.priv_data, "preset", options.preset.c_str(), 0);
    av_opt_set_int(c.priv_data, "crf", options.crf, 0);
    // Keyframes exactly every `gop` frames, so tests and benchmarks know the GOP. The rest makes
    // the bytes a function of the frames alone: thread_count=1 still left x264 a lookahead
    // thread, and with it and with macroblock-tree rate control the output depended on timing
    // and on the videos encoded before in the process (measured: 130 of 490 files of a set
    // differed from the same files of a set one video per class larger; 40 of 200 between
    // --jobs 1 and 2). With these, every file matched in both comparisons and at 500 videos.
    av_opt_set(c.priv_data, "x264-params", "scenecut=0:threads=1:lookahead-threads=1:no-mbtree=1",
               0);
  }
  TSN_CHECK_AV(avcodec_open2(&c, encoder, nullptr), path, "cannot open the encoder");
  TSN_CHECK_AV(avcodec_parameters_from_context(s.stream->codecpar, &c), path,
               "cannot set up the stream");
  s.stream->time_base = c.time_base;
  if (options.rotation % 360 != 0) {
    // A display matrix, as phones write it (the same sign convention the readers use).
    auto* matrix = reinterpret_cast<int32_t*>(
        av_stream_new_side_data(s.stream, AV_PKT_DATA_DISPLAYMATRIX, 9 * sizeof(int32_t)));
    TSN_CHECK(matrix != nullptr, "{}: cannot add rotation metadata", path);
    av_display_rotation_set(matrix, options.rotation);
  }
  if (!(s.format->oformat->flags & AVFMT_NOFILE)) {
    TSN_CHECK_AV(avio_open(&s.format->pb, path.c_str(), AVIO_FLAG_WRITE), path, "cannot create");
  }
  TSN_CHECK_AV(avformat_write_header(s.format.get(), nullptr), path, "cannot write");

  s.frame->format = c.pix_fmt;
  s.frame->width = c.width;
  s.frame->height = c.height;
  TSN_CHECK_AV(av_frame_get_buffer(s.frame.get(), 0), path, "out of memory");
  s.sws.reset(sws_getContext(c.width, c.height, AV_PIX_FMT_RGB24, c.width, c.height, c.pix_fmt,
                             SWS_BILINEAR, nullptr, nullptr, nullptr));
  TSN_CHECK(s.sws != nullptr, "{}: cannot create the RGB->YUV converter", path);
}

VideoWriter::~VideoWriter() {
  if (!state_->closed) {
    try {
      close();
    } catch (const std::exception& e) {
      logging::get("video")->error("closing {}: {}", state_->path, e.what());
    }
  }
}

void VideoWriter::write(const cv::Mat& rgb) {
  State& s = *state_;
  TSN_CHECK(!s.closed, "{}: write after close", s.path);
  TSN_CHECK(rgb.type() == CV_8UC3 && rgb.cols == s.options.width && rgb.rows == s.options.height,
            "{}: expected a {}x{} RGB frame, got {}x{} type {}", s.path, s.options.width,
            s.options.height, rgb.cols, rgb.rows, rgb.type());
  TSN_CHECK_AV(av_frame_make_writable(s.frame.get()), s.path, "out of memory");
  const cv::Mat contiguous = rgb.isContinuous() ? rgb : rgb.clone();
  const uint8_t* src[] = {contiguous.data};
  const int srcStride[] = {static_cast<int>(contiguous.step)};
  sws_scale(s.sws.get(), src, srcStride, 0, rgb.rows, s.frame->data, s.frame->linesize);
  s.frame->pts = s.nextPts++;
  TSN_CHECK_AV(avcodec_send_frame(s.codec.get(), s.frame.get()), s.path, "cannot encode");
  s.writePackets();
}

void VideoWriter::close() {
  State& s = *state_;
  if (s.closed) return;
  s.closed = true;
  TSN_CHECK_AV(avcodec_send_frame(s.codec.get(), nullptr), s.path, "cannot encode");
  s.writePackets();
  TSN_CHECK_AV(av_write_trailer(s.format.get()), s.path, "cannot write");
  s.format.reset();
}

}  // namespace tsn
