#pragma once
/// @file TensorBoard event files, read by `tensorboard --logdir` and by TensorBoard's own
/// EventAccumulator. The format is TFRecord framing (length, masked CRC-32C of the length, data,
/// masked CRC-32C of the data) around `Event` protocol buffers; only scalars are written, which
/// takes five protobuf fields, encoded here by hand: no maintained C++ TensorBoard writer is
/// packaged, and LibTorch's protobuf is internal to it.

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

namespace tsn {

class EventWriter {
 public:
  /// Creates `dir` and `<dir>/events.out.tfevents.<unix seconds>.<host>.<pid>`, beginning with
  /// the file-version event. Throws WriteError naming the file if it cannot be written.
  explicit EventWriter(const std::filesystem::path& dir);

  /// One scalar at `step`; `wallTime` in Unix seconds.
  void scalar(const std::string& tag, int64_t step, double value, double wallTime);
  /// Makes what was written readable (TensorBoard reads files while they grow).
  void flush();
  const std::filesystem::path& file() const { return file_; }

 private:
  void writeRecord(const std::string& event);
  std::filesystem::path file_;
  std::ofstream out_;
};

}  // namespace tsn
