#pragma once
/// @file The run configuration: TOML parsed once into validated, typed structs.
///
/// Every key has a default; a config file sets what differs. Errors name the file (or the
/// `--set` flag), the line and the key, and are raised before any work starts.

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace tsn {

/// Videos, MMAction2's rawframes folders, or packed frame shards (tsn_pack; the list is the
/// manifest).
enum class DataFormat { Video, Rawframes, Shards };
enum class ResizeMode { ShortSide, Fixed43 };
enum class ShortVideoMode { RepeatLast, Loop };
enum class DistBackend { Auto, Nccl, Mpi, Local };
enum class Precision { Fp32, Bf16, Fp16 };

struct ModelConfig {
  std::string backbone = "resnet50";  ///< resnet18 | resnet34 | resnet50 | resnet101 | resnet152
  int64_t width = 64;  ///< channels of the stem; 64 is torchvision's ResNet, less is a tiny one
  int64_t numClasses = 400;
  int64_t segNum = 3;      ///< TSN segments per clip
  int64_t seglen = 1;      ///< consecutive frames per segment
  double dropout = 0.5;    ///< before the classifier
  bool partialBn = false;  ///< freeze every BatchNorm but the first (TSN paper)
  /// Every BatchNorm keeps its running statistics in training (eval mode) while its affine
  /// parameters still learn: MMAction2's norm_eval. Per-sample arithmetic, so N ranks x b clips
  /// compute what 1 rank x N*b does.
  bool normEval = false;
  std::string pretrained;  ///< checkpoint to start from; empty: random initialisation
};

struct DataConfig {
  DataFormat format = DataFormat::Video;
  std::string root;       ///< video paths in the lists are relative to this
  std::string trainList;  ///< list paths are relative to the working directory
  std::string valList;
  std::string testList;
  int64_t shortSize = 256;  ///< frames are decoded with their short side scaled to this
  /// short_side keeps the aspect; fixed_4_3 scales every frame to (short_size * 4/3) x
  /// short_size, as the PaddleVideo reference reader does.
  ResizeMode resize = ResizeMode::ShortSide;
  /// Frames past the end of a video shorter than a clip: repeat the last, or loop.
  ShortVideoMode shortVideo = ShortVideoMode::RepeatLast;
  /// Reading one sample (opening, reading and decoding its file) may take this long; a slower
  /// one is replaced and counted as timed out. 0: no limit.
  double decodeTimeoutS = 30;
  /// Training only: decode H.264 / HEVC without the in-loop deblocking filter (faster; frames
  /// then differ slightly from the exact ones, see README). Evaluation always decodes exactly.
  bool skipLoopFilter = false;
  /// Containers (FFmpeg demuxer names) a video may be in; anything else is refused naming its
  /// format. Empty: every demuxer FFmpeg has (only for lists you trust: playlists such as HLS
  /// open the files they name). The same default as ReaderOptions::containers.
  std::vector<std::string> containers = {"mov", "mp4",  "matroska", "webm", "avi",  "mpegts",
                                         "flv", "mpeg", "asf",      "ogg",  "h264", "hevc"};
  int64_t targetSize = 224;     ///< crop fed to the network
  bool multiScaleCrop = false;  ///< MMAction2's MultiScaleCrop (scales 1, .875, .75, .66)
  bool flip = true;             ///< random horizontal flip in training
  std::vector<double> mean = {0.485, 0.456, 0.406};  ///< on pixels in [0, 1]
  std::vector<double> std = {0.229, 0.224, 0.225};
  int64_t workers = 4;           ///< decode threads per rank; 0 decodes in the training thread
  int64_t prefetchBatches = 2;   ///< ready batches held per rank
  double maxBadFraction = 0.01;  ///< stop if more of the videos read in an epoch fail to decode
  /// On a GPU: batches are assembled in page-locked memory by the workers and copied without
  /// blocking the training thread. Ignored on CPU.
  bool pinMemory = true;
};

struct TrainConfig {
  int64_t epochs = 45;
  int64_t batchSize = 32;  ///< clips per rank
  double lr = 0.01;
  double momentum = 0.9;
  double weightDecay = 1e-4;
  std::vector<int64_t> lrDecayEpochs;  ///< unset: 1/3 and 2/3 of the epochs (resolved at load)
  double lrDecay = 0.1;
  double warmupEpochs = 0;  ///< linear warmup, counted in (fractional) epochs
  double clipGradNorm = 0;  ///< 0 disables gradient clipping
  int64_t seed = 0;
  int64_t logInterval = 20;  ///< steps between training log lines
  int64_t valInterval = 1;   ///< epochs between validations; 0: only after the last epoch
  std::string workDir = "work_dirs/tsn";
  /// Linear LR scaling: lr applies to this global batch and scales with the actual one
  /// (batch_size x ranks); 0 keeps lr as given. The reference recipe's global batch is 256.
  int64_t lrReferenceBatch = 0;
  int64_t maxSteps = 0;      ///< stop after this many steps (debugging); 0: no limit
  bool checkFinite = false;  ///< check loss and parameters for NaN/Inf every step
  /// fp32; bf16: autocast to bfloat16 (GPU, or CPU where LibTorch supports it); fp16: autocast to
  /// float16 with dynamic loss scaling (GPU only).
  Precision precision = Precision::Fp32;
  bool channelsLast = false;   ///< NHWC weights and activations (faster convolutions on GPUs)
  bool cudnnBenchmark = true;  ///< let cuDNN time its algorithms once per shape (not in --debug)
};

struct EvalConfig {
  int64_t batchSize = 16;  ///< clips per rank
  int64_t numClips = 1;    ///< clips per video, scores averaged
  int64_t crops = 1;       ///< crops per clip: 1 (centre), 3 or 10, scores averaged
};

struct DistConfig {
  DistBackend backend = DistBackend::Auto;
  /// Gradient buckets (MB). Smaller than DDP's 25: what is still to send when backward ends
  /// is at most the last bucket, so small ones hide more of the exchange (docs/multinode.md).
  double bucketMb = 8;
  /// The first bucket (the last layers' gradients, ready first): small, so that the exchange
  /// starts early in backward (DDP's is 1 MB).
  double firstBucketMb = 1;
  double timeoutS = 600;
  /// MPI backend: a progress thread tests the collectives in flight this often (microseconds),
  /// so gradient buckets move while backward computes; 0: they move only when polled.
  /// 1000: each test preempts a computing thread (100 us cost 10-20% of a CPU step's compute
  /// on a busy core; docs/multinode.md).
  int64_t mpiProgressUs = 1000;
};

struct CheckpointConfig {
  int64_t intervalEpochs = 1;
  int64_t intervalIters = 0;  ///< 0: only at epoch ends
  int64_t keepLast = 3;
};

struct LogConfig {
  std::string level = "info";
  bool consoleAllRanks = false;
  bool rankFiles = true;    ///< one log file per rank in <work_dir>/logs
  bool tensorboard = true;  ///< rank 0 writes TensorBoard event files in <work_dir>/tensorboard
};

struct Config {
  ModelConfig model;
  DataConfig data;
  TrainConfig train;
  EvalConfig eval;
  DistConfig dist;
  CheckpointConfig checkpoint;
  LogConfig log;

  /// Where each key got its value: "configs/x.toml:12" or "--set train.lr=0.1". Keys left at
  /// their default are absent.
  std::map<std::string, std::string> origins;
  std::filesystem::path sourceFile;
};

/// Reads `file`, applies `overrides` ("section.key=value", value in TOML syntax; a bare word is
/// taken as a string), validates every value. Throws ConfigError naming file, line and key.
Config loadConfig(const std::filesystem::path& file,
                  const std::vector<std::string>& overrides = {});

/// Same, from TOML text; `sourceName` stands for the file name in messages.
Config parseConfig(const std::string& text, const std::string& sourceName,
                   const std::vector<std::string>& overrides = {});

/// Checks that the files a training run reads exist (lists, data root, model.pretrained) and
/// that train.work_dir can be written (checkWorkDir). Throws ConfigError naming the key, where
/// it was set, and the path.
void checkTrainingInputs(const Config& config);

/// Checks that train.work_dir can be written: a file is written and removed in it or, where it
/// is missing (training creates it with its parents, as MMAction2 does), in the nearest parent
/// that exists. Throws ConfigError naming the key and the system's reason (read-only file
/// system, permissions, a file in the way).
void checkWorkDir(const Config& config);

/// Whether validation follows epoch `epoch` (0-based): every train.val_interval epochs and
/// after the last one.
bool validationDue(const TrainConfig& train, int64_t epoch);

/// The full resolved config (every key, defaults included) as TOML text, which loadConfig reads
/// back to an equal config.
std::string toToml(const Config& config);

/// Stable 64-bit hash of the resolved config (FNV-1a of toToml).
uint64_t configHash(const Config& config);

/// "fp32", "bf16", "fp16".
std::string toString(Precision precision);

}  // namespace tsn
