#include "observe/TensorBoard.h"

#include <unistd.h>

#include <array>
#include <chrono>
#include <cstring>

#include "common/Error.h"
#include "common/Strings.h"

namespace tsn {
namespace {

// Protocol buffer wire format: a key is (field number << 3) | wire type.
constexpr int kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5;

void putVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void putKey(std::string& out, int field, int wireType) {
  putVarint(out, static_cast<uint64_t>(field) << 3 | static_cast<uint64_t>(wireType));
}

template <typename T>
void putFixed(std::string& out, T value) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));  // little-endian on every platform we build for
  out.append(bytes, sizeof(T));
}

void putBytes(std::string& out, int field, const std::string& bytes) {
  putKey(out, field, kLengthDelimited);
  putVarint(out, bytes.size());
  out += bytes;
}

/// Event { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
std::string event(double wallTime, int64_t step) {
  std::string e;
  putKey(e, 1, kFixed64);
  putFixed(e, wallTime);
  putKey(e, 2, kVarint);
  putVarint(e, static_cast<uint64_t>(step));
  return e;
}

uint32_t maskedCrc(const std::string& bytes) {
  const uint32_t crc = crc32c(bytes.data(), bytes.size());
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

double nowS() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

EventWriter::EventWriter(const std::filesystem::path& dir) {
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  file_ = dir / fmt::format("events.out.tfevents.{}.{}.{}", static_cast<int64_t>(nowS()), host,
                            ::getpid());
  out_.open(file_, std::ios::binary | std::ios::app);
  if (!out_)
    throw WriteError(fmt::format("{}: cannot create the TensorBoard event file", file_.string()));
  std::string first = event(nowS(), 0);
  putBytes(first, 3, "brain.Event:2");
  writeRecord(first);
  flush();
}

void EventWriter::scalar(const std::string& tag, int64_t step, double value, double wallTime) {
  // Summary { repeated Value value = 1; }  Value { string tag = 1; float simple_value = 2; }
  std::string v;
  putBytes(v, 1, tag);
  putKey(v, 2, kFixed32);
  putFixed(v, static_cast<float>(value));
  std::string summary;
  putBytes(summary, 1, v);
  std::string e = event(wallTime, step);
  putBytes(e, 5, summary);
  writeRecord(e);
}

void EventWriter::flush() {
  out_.flush();
  if (!out_)
    throw WriteError(fmt::format("{}: cannot write the TensorBoard event file", file_.string()));
}

void EventWriter::writeRecord(const std::string& data) {
  std::string header;
  putFixed(header, static_cast<uint64_t>(data.size()));
  std::string record = header;
  putFixed(record, maskedCrc(header));
  record += data;
  putFixed(record, maskedCrc(data));
  out_.write(record.data(), static_cast<std::streamsize>(record.size()));
}

}  // namespace tsn
