#pragma once
/// @file The metric log: JSON Lines, one object per logged step or epoch, appended and flushed
/// as it goes (what MMAction2 users plot); and the same figures as TensorBoard scalars.

#include <nlohmann/json.hpp>

#include <fstream>
#include <optional>
#include <string>

#include "observe/TensorBoard.h"

namespace tsn {

class MetricLog {
 public:
  /// Appends to `path`; an empty path makes a log that writes nothing (ranks other than 0).
  /// With `tensorboardDir`, training and validation records also go to an event file there (a
  /// failure to write it is logged once and ends the events, not the run).
  explicit MetricLog(const std::string& path, const std::string& tensorboardDir = "");
  /// Adds a "time" field (Unix seconds) and writes one line. A record of mode "train" or "val"
  /// with a "step" becomes TensorBoard scalars at that step: every number, as "<mode>/<key>"
  /// ("train/loss", "val/top1"), numbers in objects as "<mode>/<key>/<name>"
  /// ("train/step_time/data_wait_s"), lists of numbers as "<mode>/<key>/<name>/rank<i>".
  void write(nlohmann::json record);

 private:
  std::ofstream out_;
  std::optional<EventWriter> events_;
};

}  // namespace tsn
