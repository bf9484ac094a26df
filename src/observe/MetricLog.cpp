#include "observe/MetricLog.h"

#include <chrono>

#include "common/Error.h"
#include "common/Logging.h"

namespace tsn {

namespace {

/// Calls `emit(tag, value)` for every number in `value`, tags built as MetricLog::write says.
template <typename Emit>
void forEachScalar(const std::string& tag, const nlohmann::json& value, const Emit& emit) {
  if (value.is_number()) {
    emit(tag, value.get<double>());
  } else if (value.is_object()) {
    for (const auto& [key, item] : value.items()) forEachScalar(tag + "/" + key, item, emit);
  } else if (value.is_array()) {
    for (size_t i = 0; i < value.size(); ++i) {
      if (value[i].is_number()) emit(fmt::format("{}/rank{}", tag, i), value[i].get<double>());
    }
  }
}

}  // namespace

MetricLog::MetricLog(const std::string& path, const std::string& tensorboardDir) {
  if (path.empty()) return;
  out_.open(path, std::ios::app);
  TSN_CHECK(out_.good(), "{}: cannot open the metric log for writing", path);
  if (!tensorboardDir.empty()) events_.emplace(tensorboardDir);
}

void MetricLog::write(nlohmann::json record) {
  if (!out_.is_open()) return;
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  record["time"] = now;
  out_ << record.dump() << '\n';
  out_.flush();
  const std::string mode = record.value("mode", "");
  if (!events_ || (mode != "train" && mode != "val") || !record.contains("step")) return;
  const auto step = record["step"].get<int64_t>();
  try {
    for (const auto& [key, value] : record.items()) {
      if (key == "mode" || key == "epoch" || key == "iter" || key == "step" || key == "time") {
        continue;
      }
      forEachScalar(mode + "/" + key, value,
                    [&](const std::string& tag, double v) { events_->scalar(tag, step, v, now); });
    }
    events_->flush();
  } catch (const WriteError& e) {
    // Like the metric log, the event file is not worth stopping training for; checkpoints are.
    logging::get("train")->warn("{}; no more TensorBoard events in this run", e.what());
    events_.reset();
  }
}

}  // namespace tsn
