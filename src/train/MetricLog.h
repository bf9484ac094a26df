#pragma once
/// @file The metric log: JSON Lines, one object per logged step or epoch, appended and flushed
/// as it goes (what MMAction2 users plot).

#include <nlohmann/json.hpp>

#include <fstream>
#include <string>

namespace tsn {

class MetricLog {
 public:
  /// Appends to `path`; an empty path makes a log that writes nothing (ranks other than 0).
  explicit MetricLog(const std::string& path);
  /// Adds a "time" field (Unix seconds) and writes one line.
  void write(nlohmann::json record);

 private:
  std::ofstream out_;
};

}  // namespace tsn
