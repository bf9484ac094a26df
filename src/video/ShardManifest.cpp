// Packed frame shards, second half: the summary beside each shard, the manifest of a directory
// of shards, whole-file checksums (FrameShards.h).
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "common/Error.h"
#include "common/Strings.h"
#include "video/AvError.h"
#include "video/FrameShards.h"

namespace tsn::shards {
namespace {

/// `j` into `path`, under a temporary name until written.
void writeJson(const std::filesystem::path& path, const nlohmann::json& j) {
  // A name of this process's own: ranks finishing together may both write the manifest.
  const std::filesystem::path temp = fmt::format("{}.tmp.{}", path.string(), ::getpid());
  {
    std::ofstream out(temp);
    out << j.dump(1) << '\n';
    if (!out.good()) throw Error(fmt::format("{}: cannot write", temp.string()));
  }
  std::filesystem::rename(temp, path);
}

constexpr const char* kManifestFormat = "tsn-frame-shards";
constexpr int kManifestVersion = 1;

}  // namespace

uint32_t fileCrc32c(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    throw VideoError(errno == ENOENT ? VideoFailure::MissingFile : VideoFailure::Other,
                     fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
  }
  std::vector<char> buffer(1 << 20);
  uint32_t crc = 0;
  for (ssize_t n; (n = ::read(fd, buffer.data(), buffer.size())) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      throw VideoError(VideoFailure::Other,
                       fmt::format("{}: cannot read: {}", path, std::strerror(errno)));
    }
    crc = crc32c(buffer.data(), static_cast<size_t>(n), crc);
  }
  ::close(fd);
  return crc;
}

void writeShardSummary(const std::string& shard, int64_t videos, int64_t frames, uint32_t crc,
                       const nlohmann::json& skipped) {
  writeJson(shard + ".json",
            {{"videos", videos}, {"frames", frames}, {"crc32c", crc}, {"skipped", skipped}});
}

nlohmann::json writeManifest(const std::string& dir, const std::vector<std::string>& shardFiles,
                             const nlohmann::json& options, const std::string& tool) {
  nlohmann::json list = nlohmann::json::array();
  int64_t videos = 0, frames = 0, skipped = 0;
  for (const auto& name : shardFiles) {
    const std::string shard = (std::filesystem::path(dir) / name).string();
    const auto summary = nlohmann::json::parse(std::ifstream(shard + ".json"));
    list.push_back({{"file", name},
                    {"index", std::filesystem::path(indexPath(shard)).filename().string()},
                    {"bytes", std::filesystem::file_size(shard)},
                    {"index_bytes", std::filesystem::file_size(indexPath(shard))},
                    {"crc32c", summary.at("crc32c")},  // computed while writing
                    {"videos", summary.at("videos")},
                    {"frames", summary.at("frames")},
                    {"skipped", summary.at("skipped")}});
    videos += summary.at("videos").get<int64_t>();
    frames += summary.at("frames").get<int64_t>();
    skipped += static_cast<int64_t>(summary.at("skipped").size());
  }
  const nlohmann::json manifest = {{"format", kManifestFormat},
                                   {"version", kManifestVersion},
                                   {"tool", tool},
                                   {"options", options},
                                   {"videos", videos},
                                   {"frames", frames},
                                   {"skipped", skipped},
                                   {"shards", list}};
  writeJson(std::filesystem::path(dir) / "manifest.json", manifest);
  return manifest;
}

nlohmann::json readManifest(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    throw VideoError(VideoFailure::MissingFile, fmt::format("{}: cannot open the manifest", path));
  }
  nlohmann::json manifest;
  try {
    manifest = nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    throw VideoError(VideoFailure::InvalidData,
                     fmt::format("{}: not a shard manifest: {}", path, e.what()));
  }
  if (!manifest.is_object() || manifest.value("format", "") != kManifestFormat ||
      !manifest.contains("shards") || !manifest["shards"].is_array()) {
    throw VideoError(VideoFailure::InvalidData,
                     fmt::format("{}: not a shard manifest (tsn_pack writes them)", path));
  }
  return manifest;
}

std::vector<std::string> manifestShards(const std::string& manifestPath,
                                        const nlohmann::json& manifest) {
  const auto dir = std::filesystem::path(manifestPath).parent_path();
  std::vector<std::string> paths;
  for (const auto& s : manifest.at("shards")) {
    paths.push_back((dir / s.at("file").get<std::string>()).string());
  }
  return paths;
}

}  // namespace tsn::shards
