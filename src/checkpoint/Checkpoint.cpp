#include "checkpoint/Checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <regex>

#include "common/Error.h"
#include "model/TorchSave.h"

namespace tsn {
namespace {

constexpr const char* kFormat = "tsn-dist checkpoint";
constexpr int64_t kVersion = 1;

c10::Dict<std::string, torch::Tensor> toDict(const StateDict& tensors) {
  c10::Dict<std::string, torch::Tensor> d;
  // Contiguous copies: channels-last weights are saved in the usual layout.
  for (const auto& [name, t] : tensors) d.insert(name, t.detach().cpu().contiguous());
  return d;
}

[[noreturn]] void writeFailed(const std::filesystem::path& file, const std::string& step, int err) {
  throw WriteError(fmt::format("{}: not written ({}: {}); the previous file, if any, is intact",
                               file.string(), step, std::strerror(err)));
}

/// fsync of a file or directory; `file` is what the message names.
void syncPath(const std::filesystem::path& path, int flags, const std::filesystem::path& file) {
  const int fd = ::open(path.c_str(), flags);
  if (fd < 0) writeFailed(file, "opening " + path.string() + " to sync it", errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) writeFailed(file, "fsync of " + path.string(), err);
}

/// The temporary file of one atomic write: removed unless it was renamed into place, so a
/// write that fails on a full disk leaves the disk as it found it.
class TempFile {
 public:
  explicit TempFile(std::filesystem::path path) : path_(std::move(path)) {}
  ~TempFile() {
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::filesystem::path& path() const { return path_; }
  void release() { path_.clear(); }

 private:
  std::filesystem::path path_;
};

class Reader {
 public:
  Reader(c10::impl::GenericDict dict, std::string file)
      : d_(std::move(dict)), file_(std::move(file)) {}

  bool has(const std::string& key) const { return d_.contains(key); }
  c10::IValue at(const std::string& key) const {
    if (!d_.contains(key)) fail(fmt::format("has no '{}'", key));
    return d_.at(key);
  }
  int64_t integer(const std::string& key) const {
    const auto v = at(key);
    if (!v.isInt()) fail(fmt::format("'{}' is not an integer", key));
    return v.toInt();
  }
  double real(const c10::impl::GenericDict& d, const std::string& key) const {
    if (!d.contains(key) || !d.at(key).isDouble()) fail(fmt::format("has no number '{}'", key));
    return d.at(key).toDouble();
  }
  std::string text(const std::string& key) const {
    const auto v = at(key);
    if (!v.isString()) fail(fmt::format("'{}' is not a string", key));
    return v.toStringRef();
  }
  c10::impl::GenericDict dict(const std::string& key) const {
    const auto v = at(key);
    if (!v.isGenericDict()) fail(fmt::format("'{}' is not a dict", key));
    return v.toGenericDict();
  }
  StateDict tensors(const c10::impl::GenericDict& d, const std::string& what) const {
    StateDict out;
    for (const auto& e : d) {
      if (!e.key().isString() || !e.value().isTensor()) {
        fail(fmt::format("'{}' is not a dict of name -> tensor", what));
      }
      out.emplace(e.key().toStringRef(), e.value().toTensor());
    }
    return out;
  }
  [[noreturn]] void fail(const std::string& what) const {
    throw CheckpointError(fmt::format("{}: not a tsn-dist checkpoint: {}", file_, what));
  }

 private:
  c10::impl::GenericDict d_;
  std::string file_;
};

}  // namespace

void checkCheckpointFits(const Checkpoint& ckpt, const ModelConfig& m, const std::string& source) {
  if (ckpt.backbone != m.backbone) {
    throw CheckpointError(fmt::format("{}: checkpoint of a {} model; this config builds a {}",
                                      source, ckpt.backbone, m.backbone));
  }
  if (ckpt.numClasses != m.numClasses) {
    throw CheckpointError(fmt::format(
        "{}: checkpoint has {} classes, this config {} (to train a new classifier on top of "
        "it: --finetune)",
        source, ckpt.numClasses, m.numClasses));
  }
  for (const char* key : {"backbone.conv1.weight", "head.fc.weight"}) {
    if (!ckpt.model.count(key)) {
      throw CheckpointError(fmt::format("{}: checkpoint has no {}", source, key));
    }
  }
  const int64_t stem = ckpt.model.at("backbone.conv1.weight").size(0);
  if (stem != m.width) {
    throw CheckpointError(fmt::format("{}: checkpoint of a model of width {}; this config has {}",
                                      source, stem, m.width));
  }
}

void writeFileAtomically(const std::filesystem::path& file, const std::string& bytes,
                         const WriteProgress& progress) {
  const auto reached = [&](std::string_view point) {
    if (progress) progress(point);
  };
  const auto dir = file.parent_path().empty() ? std::filesystem::path(".") : file.parent_path();
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) writeFailed(file, "creating " + dir.string(), ec.value());
  TempFile temp(dir / fmt::format(".{}.tmp-{}", file.filename().string(), ::getpid()));
  const int fd = ::open(temp.path().c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) writeFailed(file, "creating " + temp.path().string(), errno);
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n == 0 ? EIO : errno;
      ::close(fd);
      writeFailed(file, "writing " + temp.path().string(), err);
    }
    done += static_cast<size_t>(n);
  }
  // Some file systems (NFS, full ones among them) report a failed write only at close.
  if (::close(fd) != 0) writeFailed(file, "closing " + temp.path().string(), errno);
  reached("temp-written");
  syncPath(temp.path(), O_RDONLY, file);
  reached("synced");
  if (::rename(temp.path().c_str(), file.c_str()) != 0) {
    writeFailed(file, "renaming " + temp.path().string(), errno);
  }
  temp.release();
  try {
    syncPath(dir, O_RDONLY | O_DIRECTORY, file);
  } catch (const WriteError& e) {
    throw WriteError(
        fmt::format("{}: written, but it may not survive a crash: {}", file.string(), e.what()));
  }
  reached("renamed");
}

std::string serializeCheckpoint(const Checkpoint& c) {
  c10::impl::GenericDict d(c10::StringType::get(), c10::AnyType::get());
  d.insert("format", std::string(kFormat));
  d.insert("version", kVersion);
  d.insert("model", toDict(c.model));
  c10::impl::GenericDict optimizer(c10::StringType::get(), c10::AnyType::get());
  optimizer.insert("momentum", toDict(c.momentum));
  d.insert("optimizer", optimizer);
  d.insert("epoch", c.epoch);
  d.insert("iter", c.iter);
  d.insert("step", c.step);
  c10::impl::GenericDict lr(c10::StringType::get(), c10::AnyType::get());
  lr.insert("base", c.baseLr);
  lr.insert("scale", c.lrScale);
  d.insert("lr", lr);
  c10::impl::GenericDict scaler(c10::StringType::get(), c10::AnyType::get());
  scaler.insert("scale", c.lossScale);
  scaler.insert("good_steps", c.lossScaleGoodSteps);
  d.insert("loss_scale", scaler);
  c10::impl::GenericDict rng(c10::StringType::get(), c10::AnyType::get());
  rng.insert("cpu", c.rngCpu.defined() ? c.rngCpu.contiguous() : torch::empty({0}, torch::kUInt8));
  if (c.rngCuda.defined()) rng.insert("cuda", c.rngCuda.contiguous());
  d.insert("rng", rng);
  if (!c.rankBuffers.empty()) d.insert("rank_buffers", toDict(c.rankBuffers));
  d.insert("config", c.config);
  d.insert("config_hash", c.configHash);
  d.insert("train_list_hash", c.trainListHash);
  d.insert("val_list_hash", c.valListHash);
  d.insert("world_size", c.worldSize);
  d.insert("backbone", c.backbone);
  d.insert("num_classes", c.numClasses);
  d.insert("metrics", c.metrics.dump());
  const std::vector<char> bytes = torchSave(d);
  return std::string(bytes.begin(), bytes.end());
}

void writeCheckpoint(const Checkpoint& c, const std::filesystem::path& file) {
  writeFileAtomically(file, serializeCheckpoint(c));
}

Checkpoint readCheckpoint(const std::filesystem::path& file) {
  c10::IValue value;
  try {
    value = torchLoad(file);
  } catch (const TorchSaveError& e) {
    if (!e.opened())
      throw CheckpointError(fmt::format("{}: cannot open checkpoint", file.string()));
    throw CheckpointError(
        fmt::format("{}: unreadable checkpoint (truncated, or not a torch.save file): {}",
                    file.string(), e.what()));
  }
  if (!value.isGenericDict()) {
    throw CheckpointError(fmt::format("{}: not a tsn-dist checkpoint: not a dict", file.string()));
  }
  const Reader r(value.toGenericDict(), file.string());
  if (r.text("format") != kFormat) r.fail("format is not '" + std::string(kFormat) + "'");
  if (r.integer("version") != kVersion) {
    r.fail(fmt::format("version {} (this build reads {})", r.integer("version"), kVersion));
  }
  Checkpoint c;
  c.model = r.tensors(r.dict("model"), "model");
  const auto optimizer = r.dict("optimizer");
  if (!optimizer.contains("momentum") || !optimizer.at("momentum").isGenericDict()) {
    r.fail("optimizer has no momentum");
  }
  c.momentum = r.tensors(optimizer.at("momentum").toGenericDict(), "optimizer.momentum");
  c.epoch = r.integer("epoch");
  c.iter = r.integer("iter");
  c.step = r.integer("step");
  const auto lr = r.dict("lr");
  c.baseLr = r.real(lr, "base");
  c.lrScale = r.real(lr, "scale");
  const auto scaler = r.dict("loss_scale");
  c.lossScale = r.real(scaler, "scale");
  if (!scaler.contains("good_steps") || !scaler.at("good_steps").isInt()) {
    r.fail("loss_scale has no good_steps");
  }
  c.lossScaleGoodSteps = scaler.at("good_steps").toInt();
  const auto rng = r.dict("rng");
  if (!rng.contains("cpu") || !rng.at("cpu").isTensor()) r.fail("rng has no cpu state");
  c.rngCpu = rng.at("cpu").toTensor();
  if (rng.contains("cuda") && rng.at("cuda").isTensor()) c.rngCuda = rng.at("cuda").toTensor();
  if (r.has("rank_buffers")) c.rankBuffers = r.tensors(r.dict("rank_buffers"), "rank_buffers");
  c.config = r.text("config");
  c.configHash = r.text("config_hash");
  c.trainListHash = r.text("train_list_hash");
  c.valListHash = r.text("val_list_hash");
  c.worldSize = r.integer("world_size");
  c.backbone = r.text("backbone");
  c.numClasses = r.integer("num_classes");
  try {
    c.metrics = nlohmann::json::parse(r.text("metrics"));
  } catch (const nlohmann::json::exception&) {
    r.fail("metrics is not JSON");
  }
  return c;
}

CheckpointStore::CheckpointStore(std::filesystem::path workDir, int64_t keepLast,
                                 WriteProgress progress)
    : dir_(std::move(workDir) / "checkpoints"),
      keepLast_(keepLast),
      progress_(std::move(progress)) {
  TSN_CHECK(keepLast_ >= 1, "keep_last must be >= 1");
}

namespace {
const std::regex kName(R"(e(\d+)_s(\d+)\.pt)");
}

std::vector<std::filesystem::path> CheckpointStore::list() const {
  std::vector<std::pair<int64_t, std::filesystem::path>> found;
  if (!std::filesystem::is_directory(dir_)) return {};
  for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
    std::smatch m;
    const std::string name = entry.path().filename().string();
    if (std::regex_match(name, m, kName)) found.emplace_back(std::stoll(m[2]), entry.path());
  }
  std::sort(found.begin(), found.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<std::filesystem::path> out;
  for (auto& [step, path] : found) out.push_back(path);
  return out;
}

std::filesystem::path CheckpointStore::commit(const Checkpoint& ckpt, bool best) {
  const auto file = dir_ / fmt::format("e{:03d}_s{:07d}.pt", ckpt.epoch, ckpt.step);
  const std::string bytes = serializeCheckpoint(ckpt);  // once, for both files
  writeFileAtomically(file, bytes, progress_);
  if (best) writeFileAtomically(dir_ / "best.pt", bytes, progress_);
  writeFileAtomically(dir_ / "latest", file.filename().string() + "\n", progress_);
  if (progress_) progress_("latest-written");
  // Only now, with the new one committed, do old ones go.
  const auto all = list();
  for (size_t k = static_cast<size_t>(keepLast_); k < all.size(); ++k) {
    std::error_code ignored;
    std::filesystem::remove(all[k], ignored);
  }
  return file;
}

std::optional<std::pair<std::filesystem::path, Checkpoint>> CheckpointStore::newestValid(
    std::vector<std::string>* skipped) const {
  for (const auto& file : list()) {
    try {
      return std::make_pair(file, readCheckpoint(file));
    } catch (const CheckpointError& e) {
      if (skipped) skipped->push_back(e.what());
    }
  }
  return std::nullopt;
}

}  // namespace tsn
