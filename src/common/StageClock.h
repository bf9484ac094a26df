#pragma once
/// @file Where the data path spends its time: thread-seconds per stage, summed over every thread
/// of the process. Off unless a benchmark turns it on (`tsn_bench load`); off, a scope costs one
/// relaxed atomic load.
///
///   { StageClock::Scope scope(Stage::Transform); ... }   // time of the block, if enabled

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>

namespace tsn {

enum class Stage {
  Open,       ///< opening a sample's file and indexing its packets (or its frame directory)
  Probe,      ///< part of Open: FFmpeg's stream probe (avformat_find_stream_info)
  Read,       ///< decoding the sample's frames, with the Convert inside it
  Convert,    ///< colour conversion and scaling of a video's wanted frames (swscale), rotation
  Transform,  ///< crop, resize of the crop, flip, normalise: frames into a clip's tensor
  Assemble,   ///< a batch's allocation and its labels
  kCount
};

class StageClock {
 public:
  static void enable(bool on) { enabled_.store(on, std::memory_order_relaxed); }
  static bool enabled() { return enabled_.load(std::memory_order_relaxed); }
  static void reset() {
    for (auto& n : nanos_) n.store(0, std::memory_order_relaxed);
  }
  /// Thread-seconds spent in `stage` since the last reset().
  static double seconds(Stage stage) {
    return static_cast<double>(nanos_[static_cast<int>(stage)].load(std::memory_order_relaxed)) *
           1e-9;
  }

  class Scope {
   public:
    explicit Scope(Stage stage) : stage_(stage), on_(enabled()) {
      if (on_) start_ = Clock::now();
    }
    ~Scope() {
      if (!on_) return;
      const auto ns =
          std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start_).count();
      nanos_[static_cast<int>(stage_)].fetch_add(ns, std::memory_order_relaxed);
    }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    using Clock = std::chrono::steady_clock;
    Stage stage_;
    bool on_;
    Clock::time_point start_{};
  };

 private:
  static inline std::atomic<bool> enabled_{false};
  static inline std::array<std::atomic<int64_t>, static_cast<int>(Stage::kCount)> nanos_{};
};

}  // namespace tsn
