#include "config/ConfigSchema.h"

#include <fmt/format.h>

#include <algorithm>
#include <sstream>

#include "common/Error.h"
#include "common/Strings.h"

namespace tsn::config {

[[noreturn]] void Context::fail(const std::string& what) const {
  throw ConfigError(fmt::format("{}: {}: {}", where, key, what));
}

namespace {

std::string describe(const toml::node& node) {
  std::ostringstream os;
  switch (node.type()) {
    case toml::node_type::string:
      os << "string \"" << node.as_string()->get() << '"';
      break;
    case toml::node_type::integer:
      os << "integer " << node.as_integer()->get();
      break;
    case toml::node_type::floating_point:
      os << "float " << node.as_floating_point()->get();
      break;
    case toml::node_type::boolean:
      os << "boolean " << (node.as_boolean()->get() ? "true" : "false");
      break;
    case toml::node_type::array:
      os << "an array";
      break;
    case toml::node_type::table:
      os << "a table";
      break;
    default:
      os << "a date/time";
      break;
  }
  return os.str();
}

// ---- conversion from TOML nodes to field types -------------------------------------------

template <class T>
T convert(const toml::node& node, const Context& ctx);

template <>
int64_t convert<int64_t>(const toml::node& node, const Context& ctx) {
  if (!node.is_integer()) ctx.fail("expected an integer, got " + describe(node));
  return node.as_integer()->get();
}

template <>
double convert<double>(const toml::node& node, const Context& ctx) {
  if (node.is_integer()) return static_cast<double>(node.as_integer()->get());
  if (!node.is_floating_point()) ctx.fail("expected a number, got " + describe(node));
  return node.as_floating_point()->get();
}

template <>
bool convert<bool>(const toml::node& node, const Context& ctx) {
  if (!node.is_boolean()) ctx.fail("expected true or false, got " + describe(node));
  return node.as_boolean()->get();
}

template <>
std::string convert<std::string>(const toml::node& node, const Context& ctx) {
  if (!node.is_string()) ctx.fail("expected a string, got " + describe(node));
  return node.as_string()->get();
}

template <class Element>
std::vector<Element> convertArray(const toml::node& node, const Context& ctx) {
  if (!node.is_array()) ctx.fail("expected an array, got " + describe(node));
  std::vector<Element> values;
  for (const auto& element : *node.as_array()) values.push_back(convert<Element>(element, ctx));
  return values;
}

template <>
std::vector<double> convert<std::vector<double>>(const toml::node& node, const Context& ctx) {
  return convertArray<double>(node, ctx);
}

template <>
std::vector<int64_t> convert<std::vector<int64_t>>(const toml::node& node, const Context& ctx) {
  return convertArray<int64_t>(node, ctx);
}

template <>
std::vector<std::string> convert<std::vector<std::string>>(const toml::node& node,
                                                           const Context& ctx) {
  return convertArray<std::string>(node, ctx);
}

// ---- conversion back to TOML -------------------------------------------------------------

template <class T>
void insert(toml::table& table, const std::string& key, const T& value) {
  table.insert_or_assign(key, value);
}

template <class T>
void insert(toml::table& table, const std::string& key, const std::vector<T>& values) {
  toml::array array;
  for (const auto& v : values) array.push_back(v);
  table.insert_or_assign(key, std::move(array));
}

// ---- checks: return "" when the value is fine, else what was expected --------------------

template <class T>
using Check = std::function<std::string(const T&)>;

template <class T>
Check<T> atLeast(T low) {
  return [low](const T& v) { return v >= low ? "" : fmt::format("must be >= {}, got {}", low, v); };
}

Check<double> positive() {
  return [](const double& v) { return v > 0 ? "" : fmt::format("must be > 0, got {}", v); };
}

Check<double> inRange(double low, double high, bool highOpen) {
  return [=](const double& v) {
    const bool ok = v >= low && (highOpen ? v < high : v <= high);
    return ok ? ""
              : fmt::format("must be in [{}, {}{}, got {}", low, high, highOpen ? ")" : "]", v);
  };
}

Check<std::string> oneOf(std::vector<std::string> choices) {
  return [choices](const std::string& v) {
    if (std::find(choices.begin(), choices.end(), v) != choices.end()) return std::string();
    const std::string near = closestMatch(v, choices);
    return fmt::format("must be one of {}, got \"{}\"{}", fmt::join(choices, " | "), v,
                       near.empty() ? "" : fmt::format(" (did you mean \"{}\"?)", near));
  };
}

Check<int64_t> oneOfCounts(std::vector<int64_t> allowed) {
  return [allowed](const int64_t& v) {
    if (std::find(allowed.begin(), allowed.end(), v) != allowed.end()) return std::string();
    return fmt::format("must be one of {}, got {}", fmt::join(allowed, ", "), v);
  };
}

Check<std::string> nonEmpty() {
  return [](const std::string& v) { return v.empty() ? std::string("must not be empty") : ""; };
}

/// FFmpeg demuxer names: lower-case letters, digits and underscores.
Check<std::vector<std::string>> demuxerNames() {
  return [](const std::vector<std::string>& names) {
    for (const auto& name : names) {
      const bool ok = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
      });
      if (!ok) {
        return fmt::format(
            "\"{}\" is not an FFmpeg container name (e.g. \"mp4\", \"matroska\"; "
            "`ffmpeg -demuxers` lists them)",
            name);
      }
    }
    return std::string();
  };
}

Check<std::vector<double>> threePositive(bool strictlyPositive) {
  return [strictlyPositive](const std::vector<double>& v) {
    if (v.size() != 3) return fmt::format("expected 3 values (R, G, B), got {}", v.size());
    for (double x : v) {
      if (strictlyPositive ? x <= 0 : x < 0)
        return fmt::format("values must be {} 0", strictlyPositive ? ">" : ">=");
    }
    return std::string();
  };
}

// ---- the schema: one entry per key, used to read, override and write ---------------------

template <class S, class T>
Field field(const std::string& key, S Config::*section, T S::*member, Check<T> check = nullptr) {
  return Field{
      key,
      [=](Config& c, const toml::node& node, const Context& ctx) {
        T value = convert<T>(node, ctx);
        if (check) {
          if (const std::string err = check(value); !err.empty()) ctx.fail(err);
        }
        (c.*section).*member = std::move(value);
      },
      [=](const Config& c, toml::table& table) { insert(table, key, (c.*section).*member); }};
}

template <class E>
using Names = std::vector<std::pair<std::string, E>>;

template <class S, class E>
Field enumField(const std::string& key, S Config::*section, E S::*member, Names<E> names) {
  std::vector<std::string> choices;
  for (const auto& [name, value] : names) choices.push_back(name);
  return Field{key,
               [=](Config& c, const toml::node& node, const Context& ctx) {
                 const auto text = convert<std::string>(node, ctx);
                 if (const std::string err = oneOf(choices)(text); !err.empty()) ctx.fail(err);
                 for (const auto& [name, value] : names) {
                   if (name == text) (c.*section).*member = value;
                 }
               },
               [=](const Config& c, toml::table& table) {
                 for (const auto& [name, value] : names) {
                   if (value == (c.*section).*member) table.insert_or_assign(key, name);
                 }
               }};
}

const Names<DataFormat> kFormatNames = {{"video", DataFormat::Video},
                                        {"rawframes", DataFormat::Rawframes},
                                        {"shards", DataFormat::Shards}};
const Names<ResizeMode> kResizeNames = {{"short_side", ResizeMode::ShortSide},
                                        {"fixed_4_3", ResizeMode::Fixed43}};
const Names<ShortVideoMode> kShortVideoNames = {{"repeat_last", ShortVideoMode::RepeatLast},
                                                {"loop", ShortVideoMode::Loop}};
const Names<DistBackend> kBackendNames = {{"auto", DistBackend::Auto},
                                          {"nccl", DistBackend::Nccl},
                                          {"mpi", DistBackend::Mpi},
                                          {"local", DistBackend::Local}};
const Names<Precision> kPrecisionNames = {
    {"fp32", Precision::Fp32}, {"bf16", Precision::Bf16}, {"fp16", Precision::Fp16}};

}  // namespace

const std::vector<Section>& schema() {
  using C = Config;
  static const std::vector<Section> sections = {
      {"model",
       {field("backbone", &C::model, &ModelConfig::backbone,
              oneOf({"resnet18", "resnet34", "resnet50", "resnet101", "resnet152"})),
        field("width", &C::model, &ModelConfig::width, atLeast<int64_t>(1)),
        field("num_classes", &C::model, &ModelConfig::numClasses, atLeast<int64_t>(2)),
        field("seg_num", &C::model, &ModelConfig::segNum, atLeast<int64_t>(1)),
        field("seglen", &C::model, &ModelConfig::seglen, atLeast<int64_t>(1)),
        field("dropout", &C::model, &ModelConfig::dropout, inRange(0, 1, true)),
        field("partial_bn", &C::model, &ModelConfig::partialBn),
        field("norm_eval", &C::model, &ModelConfig::normEval),
        field("pretrained", &C::model, &ModelConfig::pretrained)}},
      {"data",
       {enumField("format", &C::data, &DataConfig::format, kFormatNames),
        field("root", &C::data, &DataConfig::root),
        field("train_list", &C::data, &DataConfig::trainList),
        field("val_list", &C::data, &DataConfig::valList),
        field("test_list", &C::data, &DataConfig::testList),
        field("short_size", &C::data, &DataConfig::shortSize, atLeast<int64_t>(8)),
        enumField("resize", &C::data, &DataConfig::resize, kResizeNames),
        enumField("short_video", &C::data, &DataConfig::shortVideo, kShortVideoNames),
        field("decode_timeout_s", &C::data, &DataConfig::decodeTimeoutS, atLeast(0.0)),
        field("skip_loop_filter", &C::data, &DataConfig::skipLoopFilter),
        field("containers", &C::data, &DataConfig::containers, demuxerNames()),
        field("target_size", &C::data, &DataConfig::targetSize, atLeast<int64_t>(8)),
        field("multi_scale_crop", &C::data, &DataConfig::multiScaleCrop),
        field("flip", &C::data, &DataConfig::flip),
        field("mean", &C::data, &DataConfig::mean, threePositive(false)),
        field("std", &C::data, &DataConfig::std, threePositive(true)),
        field("workers", &C::data, &DataConfig::workers, atLeast<int64_t>(0)),
        field("prefetch_batches", &C::data, &DataConfig::prefetchBatches, atLeast<int64_t>(1)),
        field("max_bad_fraction", &C::data, &DataConfig::maxBadFraction, inRange(0, 1, false)),
        field("pin_memory", &C::data, &DataConfig::pinMemory)}},
      {"train",
       {field("epochs", &C::train, &TrainConfig::epochs, atLeast<int64_t>(1)),
        field("batch_size", &C::train, &TrainConfig::batchSize, atLeast<int64_t>(1)),
        field("lr", &C::train, &TrainConfig::lr, positive()),
        field("momentum", &C::train, &TrainConfig::momentum, inRange(0, 1, true)),
        field("weight_decay", &C::train, &TrainConfig::weightDecay, atLeast(0.0)),
        field("lr_decay_epochs", &C::train, &TrainConfig::lrDecayEpochs),
        field("lr_decay", &C::train, &TrainConfig::lrDecay, inRange(0, 1, false)),
        field("warmup_epochs", &C::train, &TrainConfig::warmupEpochs, atLeast(0.0)),
        field("clip_grad_norm", &C::train, &TrainConfig::clipGradNorm, atLeast(0.0)),
        field("seed", &C::train, &TrainConfig::seed, atLeast<int64_t>(0)),
        field("log_interval", &C::train, &TrainConfig::logInterval, atLeast<int64_t>(1)),
        field("val_interval", &C::train, &TrainConfig::valInterval, atLeast<int64_t>(0)),
        field("work_dir", &C::train, &TrainConfig::workDir, nonEmpty()),
        field("lr_reference_batch", &C::train, &TrainConfig::lrReferenceBatch, atLeast<int64_t>(0)),
        field("max_steps", &C::train, &TrainConfig::maxSteps, atLeast<int64_t>(0)),
        field("check_finite", &C::train, &TrainConfig::checkFinite),
        enumField("precision", &C::train, &TrainConfig::precision, kPrecisionNames),
        field("channels_last", &C::train, &TrainConfig::channelsLast),
        field("cudnn_benchmark", &C::train, &TrainConfig::cudnnBenchmark)}},
      {"eval",
       {field("batch_size", &C::eval, &EvalConfig::batchSize, atLeast<int64_t>(1)),
        field("num_clips", &C::eval, &EvalConfig::numClips, atLeast<int64_t>(1)),
        field("crops", &C::eval, &EvalConfig::crops, oneOfCounts({1, 3, 10}))}},
      {"dist",
       {enumField("backend", &C::dist, &DistConfig::backend, kBackendNames),
        field("bucket_mb", &C::dist, &DistConfig::bucketMb, positive()),
        field("first_bucket_mb", &C::dist, &DistConfig::firstBucketMb, positive()),
        field("timeout_s", &C::dist, &DistConfig::timeoutS, positive()),
        field("mpi_progress_us", &C::dist, &DistConfig::mpiProgressUs, atLeast<int64_t>(0))}},
      {"checkpoint",
       {field("interval_epochs", &C::checkpoint, &CheckpointConfig::intervalEpochs,
              atLeast<int64_t>(0)),
        field("interval_iters", &C::checkpoint, &CheckpointConfig::intervalIters,
              atLeast<int64_t>(0)),
        field("keep_last", &C::checkpoint, &CheckpointConfig::keepLast, atLeast<int64_t>(1))}},
      {"log",
       {field("level", &C::log, &LogConfig::level,
              oneOf({"trace", "debug", "info", "warn", "error"})),
        field("console_all_ranks", &C::log, &LogConfig::consoleAllRanks),
        field("rank_files", &C::log, &LogConfig::rankFiles),
        field("tensorboard", &C::log, &LogConfig::tensorboard)}},
  };
  return sections;
}

namespace {

template <class Item, class Name>
std::vector<std::string> namesOf(const std::vector<Item>& items, Name name) {
  std::vector<std::string> names;
  for (const auto& item : items) names.push_back(name(item));
  return names;
}

std::string didYouMean(const std::string& word, const std::vector<std::string>& candidates) {
  const std::string near = closestMatch(word, candidates);
  return near.empty() ? fmt::format(" (valid: {})", fmt::join(candidates, ", "))
                      : fmt::format(" (did you mean '{}'?)", near);
}

}  // namespace

const Section& findSection(const std::string& name, const Context& ctx) {
  const auto& sections = schema();
  for (const auto& s : sections) {
    if (s.name == name) return s;
  }
  ctx.fail(
      fmt::format("unknown section [{}]{}", name,
                  didYouMean(name, namesOf(sections, [](const Section& s) { return s.name; }))));
}

const Field& findField(const Section& section, const std::string& key, const Context& ctx) {
  for (const auto& f : section.fields) {
    if (f.key == key) return f;
  }
  ctx.fail(
      fmt::format("unknown key '{}' in [{}]{}", key, section.name,
                  didYouMean(key, namesOf(section.fields, [](const Field& f) { return f.key; }))));
}

std::string toString(Precision precision) {
  for (const auto& [name, value] : kPrecisionNames) {
    if (value == precision) return name;
  }
  return "?";
}

}  // namespace tsn::config

namespace tsn {

std::string toString(Precision precision) {
  return config::toString(precision);
}

}  // namespace tsn
