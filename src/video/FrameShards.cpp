#include "video/FrameShards.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>

#include "common/Error.h"
#include "common/Strings.h"
#include "video/AvError.h"

namespace tsn::shards {
namespace {

constexpr char kIndexMagic[8] = {'T', 'S', 'N', 'S', 'H', 'I', 'D', 'X'};
constexpr uint32_t kIndexVersion = 1;
constexpr size_t kBlock = 512;  // tar's record unit

std::string systemError(const std::string& path, const char* what) {
  return fmt::format("{}: {}: {}", path, what, std::strerror(errno));
}

/// A ustar header for a regular file `name` of `size` bytes: mode 0644, owner 0, time 0, so
/// that the same frames give the same bytes.
std::array<char, kBlock> tarHeader(const std::string& name, uint64_t size) {
  std::array<char, kBlock> h{};
  TSN_CHECK(name.size() < 100, "tar member name too long: {}", name);
  std::memcpy(h.data(), name.data(), name.size());
  const auto octal = [&h](size_t at, size_t width, uint64_t value) {
    const std::string digits = fmt::format("{:0{}o}", value, width - 1);
    std::memcpy(h.data() + at, digits.data(), width - 1);
  };
  octal(100, 8, 0644);  // mode
  octal(108, 8, 0);     // uid
  octal(116, 8, 0);     // gid
  octal(124, 12, size);
  octal(136, 12, 0);  // mtime
  h[156] = '0';       // a regular file
  std::memcpy(h.data() + 257, "ustar", 6);
  std::memcpy(h.data() + 263, "00", 2);
  // The checksum counts its own field as spaces.
  std::memset(h.data() + 148, ' ', 8);
  uint32_t sum = 0;
  for (const char c : h) sum += static_cast<unsigned char>(c);
  const std::string checksum = fmt::format("{:06o}", sum);
  std::memcpy(h.data() + 148, checksum.data(), 6);
  h[154] = '\0';
  h[155] = ' ';
  return h;
}

template <typename T>
void put(std::string& out, T value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof value);  // little-endian (x86-64)
}

void putString(std::string& out, const std::string& s) {
  put<uint32_t>(out, static_cast<uint32_t>(s.size()));
  out += s;
}

/// Reads an index's fields in order; every read past the end is damage.
class Cursor {
 public:
  Cursor(const std::string& bytes, const std::string& path) : bytes_(bytes), path_(path) {}
  template <typename T>
  T get() {
    T value;
    need(sizeof value);
    std::memcpy(&value, bytes_.data() + at_, sizeof value);
    at_ += sizeof value;
    return value;
  }
  std::string getString() {
    const auto size = get<uint32_t>();
    need(size);
    std::string s = bytes_.substr(at_, size);
    at_ += size;
    return s;
  }
  size_t left() const { return bytes_.size() - at_; }

 private:
  void need(size_t n) const {
    if (bytes_.size() - at_ < n) {
      throw VideoError(VideoFailure::InvalidData,
                       fmt::format("{}: shard index ends early (truncated)", path_));
    }
  }
  const std::string& bytes_;
  const std::string& path_;
  size_t at_ = 0;
};

void writeWhole(int fd, const void* data, size_t size, const std::string& path) {
  const auto* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(systemError(path, "cannot write"));
    p += n;
    size -= static_cast<size_t>(n);
  }
}

void syncAndClose(int fd, const std::string& path) {
  if (::fsync(fd) != 0) {
    ::close(fd);
    throw Error(systemError(path, "cannot flush to disk"));
  }
  if (::close(fd) != 0) throw Error(systemError(path, "cannot close"));
}

std::string encodeIndex(const ShardIndex& index) {
  std::string out(kIndexMagic, sizeof kIndexMagic);
  put<uint32_t>(out, kIndexVersion);
  put<uint64_t>(out, index.shardBytes);
  put<uint32_t>(out, static_cast<uint32_t>(index.videos.size()));
  for (const auto& v : index.videos) {
    putString(out, v.key);
    putString(out, v.source);
    put<int64_t>(out, v.label);
    put<double>(out, v.sourceFps);
    put<uint32_t>(out, static_cast<uint32_t>(v.frames.size()));
    for (const auto& f : v.frames) {
      put<uint64_t>(out, f.offset);
      put<uint32_t>(out, f.size);
      put<uint32_t>(out, f.crc32c);
    }
  }
  put<uint32_t>(out, crc32c(out.data(), out.size()));
  return out;
}

}  // namespace

std::string indexPath(const std::string& shard) {
  return shard + ".idx";
}

ShardIndex readIndex(const std::string& path) {
  std::string bytes;
  {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      throw VideoError(errno == ENOENT ? VideoFailure::MissingFile : VideoFailure::Other,
                       systemError(path, "cannot open the shard index"));
    }
    char buffer[1 << 16];
    for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) != 0;) {
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        ::close(fd);
        throw VideoError(VideoFailure::Other, systemError(path, "cannot read"));
      }
      bytes.append(buffer, static_cast<size_t>(n));
    }
    ::close(fd);
  }
  const auto damaged = [&](const std::string& what) {
    return VideoError(VideoFailure::InvalidData, fmt::format("{}: {}", path, what));
  };
  if (bytes.size() < sizeof kIndexMagic + 4 ||
      std::memcmp(bytes.data(), kIndexMagic, sizeof kIndexMagic) != 0) {
    throw damaged("not a shard index");
  }
  uint32_t stored = 0;
  std::memcpy(&stored, bytes.data() + bytes.size() - 4, 4);
  if (crc32c(bytes.data(), bytes.size() - 4) != stored) {
    throw damaged("shard index damaged or truncated (CRC-32C mismatch)");
  }
  bytes.resize(bytes.size() - 4);
  Cursor in(bytes, path);
  in.get<uint64_t>();  // the magic
  if (const auto version = in.get<uint32_t>(); version != kIndexVersion) {
    throw damaged(
        fmt::format("shard index version {}, this build reads {}", version, kIndexVersion));
  }
  ShardIndex index;
  index.shardBytes = in.get<uint64_t>();
  index.videos.resize(in.get<uint32_t>());
  for (auto& v : index.videos) {
    v.key = in.getString();
    v.source = in.getString();
    v.label = in.get<int64_t>();
    v.sourceFps = in.get<double>();
    v.frames.resize(in.get<uint32_t>());
    for (auto& f : v.frames) {
      f.offset = in.get<uint64_t>();
      f.size = in.get<uint32_t>();
      f.crc32c = in.get<uint32_t>();
      if (f.offset + f.size > index.shardBytes) {
        throw damaged(fmt::format("video {}: a frame lies past the shard's end", v.key));
      }
    }
  }
  if (in.left() != 0) throw damaged("shard index has trailing bytes");
  return index;
}

ShardWriter::ShardWriter(std::string shard) : shard_(std::move(shard)) {
  const std::string temp = shard_ + ".tmp";
  fd_ = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) throw Error(systemError(temp, "cannot create"));
}

ShardWriter::~ShardWriter() {
  if (finished_) return;
  if (fd_ >= 0) ::close(fd_);
  std::error_code ignored;
  std::filesystem::remove(shard_ + ".tmp", ignored);
  std::filesystem::remove(indexPath(shard_) + ".tmp", ignored);
}

void ShardWriter::write(const void* data, size_t size) {
  writeWhole(fd_, data, size, shard_ + ".tmp");
  offset_ += size;
  crc_ = crc32c(data, size, crc_);
}

void ShardWriter::beginVideo(const std::string& key, const std::string& source, int64_t label,
                             double fps) {
  TSN_CHECK(
      !key.empty() && key.size() <= kMaxKeyLength && key.find_first_of("/.") == std::string::npos,
      "{}: video key '{}' must be 1-{} bytes without '/' or '.'", shard_, key, kMaxKeyLength);
  index_.videos.push_back({key, source, label, fps, {}});
}

void ShardWriter::addFrame(const std::vector<uint8_t>& jpeg) {
  TSN_CHECK(!index_.videos.empty(), "{}: a frame before any video", shard_);
  VideoEntry& video = index_.videos.back();
  const auto header =
      tarHeader(fmt::format("{}.{:06d}.jpg", video.key, video.frames.size()), jpeg.size());
  write(header.data(), header.size());
  video.frames.push_back(
      {offset_, static_cast<uint32_t>(jpeg.size()), crc32c(jpeg.data(), jpeg.size())});
  write(jpeg.data(), jpeg.size());
  static const std::array<char, kBlock> zeros{};
  write(zeros.data(), (kBlock - jpeg.size() % kBlock) % kBlock);
}

const ShardIndex& ShardWriter::finish(const nlohmann::json& skipped) {
  static const std::array<char, 2 * kBlock> end{};
  write(end.data(), end.size());  // the tar's end: two zero records
  syncAndClose(fd_, shard_ + ".tmp");
  fd_ = -1;
  index_.shardBytes = offset_;
  int64_t frames = 0;
  for (const auto& v : index_.videos) frames += static_cast<int64_t>(v.frames.size());
  writeShardSummary(shard_, static_cast<int64_t>(index_.videos.size()), frames, crc_, skipped);
  const std::string indexTemp = indexPath(shard_) + ".tmp";
  const int fd = ::open(indexTemp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw Error(systemError(indexTemp, "cannot create"));
  const std::string bytes = encodeIndex(index_);
  try {
    writeWhole(fd, bytes.data(), bytes.size(), indexTemp);
  } catch (...) {
    ::close(fd);
    throw;
  }
  syncAndClose(fd, indexTemp);
  // The index first: a shard present is a shard complete, its index beside it.
  std::filesystem::rename(indexTemp, indexPath(shard_));
  std::filesystem::rename(shard_ + ".tmp", shard_);
  finished_ = true;
  return index_;
}

ShardFile::ShardFile(std::string path, uint64_t expectedBytes) : path_(std::move(path)) {
  fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) {
    throw VideoError(errno == ENOENT ? VideoFailure::MissingFile : VideoFailure::Other,
                     systemError(path_, "cannot open the shard"));
  }
  struct stat st {};
  if (::fstat(fd_, &st) != 0 ||
      (expectedBytes != kAnySize && static_cast<uint64_t>(st.st_size) != expectedBytes)) {
    const auto size = static_cast<uint64_t>(st.st_size);
    ::close(fd_);
    throw VideoError(VideoFailure::Truncated,
                     fmt::format("{}: {} bytes where its index says {}: truncated or replaced",
                                 path_, size, expectedBytes));
  }
}

ShardFile::~ShardFile() {
  if (fd_ >= 0) ::close(fd_);
}

void ShardFile::read(uint64_t offset, uint32_t size, std::vector<uint8_t>& into) const {
  into.resize(size);
  size_t done = 0;
  while (done < size) {
    const ssize_t n =
        ::pread(fd_, into.data() + done, size - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw VideoError(VideoFailure::Other, systemError(path_, "cannot read"));
    if (n == 0) {
      throw VideoError(VideoFailure::Truncated,
                       fmt::format("{}: ends at {} bytes, before the frame at {} (truncated)",
                                   path_, offset + done, offset));
    }
    done += static_cast<size_t>(n);
  }
}

std::shared_ptr<const ShardFile> openShared(const std::string& shard) {
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<const ShardFile>> open;
  const std::lock_guard<std::mutex> lock(mutex);
  auto& file = open[shard];
  if (!file) file = std::make_shared<const ShardFile>(shard, ShardFile::kAnySize);
  return file;
}

ShardVideoReader::ShardVideoReader(std::shared_ptr<const ShardFile> shard, VideoEntry video)
    : shard_(std::move(shard)), video_(std::move(video)) {}

cv::Mat ShardVideoReader::read(int64_t index, const jpeg::Target& target) {
  TSN_CHECK(index >= 0 && index < numFrames(), "{}: video {}: frame {} out of range [0, {})",
            shard_->path(), video_.key, index, numFrames());
  const FrameEntry& f = video_.frames[static_cast<size_t>(index)];
  shard_->read(f.offset, f.size, bytes_);
  const auto where = [&] {
    return fmt::format("{}: video {} ({}) frame {}", shard_->path(), video_.key, video_.source,
                       index);
  };
  if (crc32c(bytes_.data(), bytes_.size()) != f.crc32c) {
    throw VideoError(VideoFailure::InvalidData,
                     where() + ": damaged (CRC-32C does not match the index)");
  }
  return jpeg::Decoder::forThisThread().decode(bytes_.data(), bytes_.size(), target, where);
}

std::vector<cv::Mat> ShardVideoReader::decode(const std::vector<int64_t>& indices, int shortSide) {
  return decodeEach(indices, jpeg::Target{shortSide, {}},
                    [this](int64_t i, const jpeg::Target& t) { return read(i, t); });
}

std::vector<cv::Mat> ShardVideoReader::decode(const std::vector<int64_t>& indices, cv::Size size) {
  return decodeEach(indices, jpeg::Target{0, size},
                    [this](int64_t i, const jpeg::Target& t) { return read(i, t); });
}

}  // namespace tsn::shards
