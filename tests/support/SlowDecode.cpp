// An LD_PRELOAD library for tests: every av_read_frame (each demuxed packet) first sleeps
// TSN_SLOW_DECODE_MS milliseconds, so the process it is loaded into reads videos slowly. The
// straggler test loads it into one rank of a job; nothing in tsn-dist knows of it.
#include <dlfcn.h>

#include <chrono>
#include <cstdlib>
#include <thread>

struct AVFormatContext;
struct AVPacket;

extern "C" int av_read_frame(AVFormatContext* format, AVPacket* packet) {
  using Real = int (*)(AVFormatContext*, AVPacket*);
  static const Real real = reinterpret_cast<Real>(dlsym(RTLD_NEXT, "av_read_frame"));
  static const int delayMs = [] {
    const char* text = std::getenv("TSN_SLOW_DECODE_MS");
    return text != nullptr ? std::atoi(text) : 0;
  }();
  if (delayMs > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delayMs));
  return real(format, packet);
}
