#include "train/MetricLog.h"

#include <chrono>

#include "common/Error.h"

namespace tsn {

MetricLog::MetricLog(const std::string& path) {
  if (path.empty()) return;
  out_.open(path, std::ios::app);
  TSN_CHECK(out_.good(), "{}: cannot open the metric log for writing", path);
}

void MetricLog::write(nlohmann::json record) {
  if (!out_.is_open()) return;
  record["time"] =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  out_ << record.dump() << '\n';
  out_.flush();
}

}  // namespace tsn
