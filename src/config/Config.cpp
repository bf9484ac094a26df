#include "config/Config.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <sstream>

#include "common/Error.h"
#include "common/Strings.h"
#include "config/ConfigSchema.h"

namespace tsn {
namespace {

using config::Context;
using config::Field;
using config::Section;

std::string lineOf(const std::string& sourceName, const toml::node& node) {
  return fmt::format("{}:{}", sourceName, node.source().begin.line);
}

void readTable(Config& config, const toml::table& root, const std::string& sourceName) {
  for (const auto& [sectionKey, sectionNode] : root) {
    const std::string sectionName(sectionKey.str());
    const Context sectionCtx{lineOf(sourceName, sectionNode), sectionName};
    const Section& section = config::findSection(sectionName, sectionCtx);
    if (!sectionNode.is_table()) sectionCtx.fail("expected a table [" + sectionName + "]");
    for (const auto& [key, node] : *sectionNode.as_table()) {
      const Context ctx{lineOf(sourceName, node), sectionName + "." + std::string(key.str())};
      config::findField(section, std::string(key.str()), ctx).read(config, node, ctx);
      config.origins[ctx.key] = ctx.where;
    }
  }
}

void applyOverride(Config& config, const std::string& text) {
  const Context flagCtx{"--set " + text, text};
  const auto eq = text.find('=');
  if (eq == std::string::npos) flagCtx.fail("expected section.key=value");
  const std::string path = trim(text.substr(0, eq));
  const std::string valueText = trim(text.substr(eq + 1));
  const auto dot = path.find('.');
  if (dot == std::string::npos) flagCtx.fail("expected section.key=value");
  const Context ctx{"--set " + text, path};
  const Section& section = config::findSection(path.substr(0, dot), ctx);
  const Field& field = config::findField(section, path.substr(dot + 1), ctx);

  // The value is TOML (0.1, true, [1, 2], "x"); anything that is not valid TOML is a string,
  // so `--set data.root=/data/k400` needs no quotes.
  toml::table parsed;
  try {
    parsed = toml::parse("value = " + valueText);
  } catch (const toml::parse_error&) {
    parsed.insert_or_assign("value", valueText);
  }
  field.read(config, *parsed.get("value"), ctx);
  config.origins[path] = ctx.where;
}

std::string originOf(const Config& config, const std::string& key) {
  const auto it = config.origins.find(key);
  return it == config.origins.end() ? "(default)" : it->second;
}

[[noreturn]] void failAt(const Config& config, const std::string& key, const std::string& what) {
  Context{originOf(config, key), key}.fail(what);
}

void resolveAndCrossCheck(Config& config) {
  auto& train = config.train;
  if (train.lrDecayEpochs.empty() && !config.origins.count("train.lr_decay_epochs")) {
    // The reference recipe: x0.1 at 1/3 and 2/3 of the epochs.
    for (int i = 1; i <= 2; ++i) {
      const auto epoch =
          static_cast<int64_t>(std::lround(static_cast<double>(train.epochs) * i / 3));
      if (epoch >= 1 && epoch < train.epochs &&
          (train.lrDecayEpochs.empty() || train.lrDecayEpochs.back() < epoch)) {
        train.lrDecayEpochs.push_back(epoch);
      }
    }
  }
  for (size_t i = 0; i < train.lrDecayEpochs.size(); ++i) {
    const int64_t e = train.lrDecayEpochs[i];
    if (e < 1 || e >= train.epochs) {
      failAt(config, "train.lr_decay_epochs",
             fmt::format("epoch {} is outside [1, epochs={})", e, train.epochs));
    }
    if (i > 0 && e <= train.lrDecayEpochs[i - 1]) {
      failAt(config, "train.lr_decay_epochs", "epochs must be strictly increasing");
    }
  }
  if (train.warmupEpochs >= static_cast<double>(train.epochs)) {
    failAt(config, "train.warmup_epochs",
           fmt::format("must be less than epochs={}, got {}", train.epochs, train.warmupEpochs));
  }
  if (config.data.targetSize > config.data.shortSize) {
    failAt(config, "data.target_size",
           fmt::format("crop {} is larger than data.short_size={}", config.data.targetSize,
                       config.data.shortSize));
  }
}

toml::table toTable(const Config& config) {
  toml::table root;
  for (const auto& section : config::schema()) {
    toml::table table;
    for (const auto& f : section.fields) f.write(config, table);
    root.insert_or_assign(section.name, std::move(table));
  }
  return root;
}

Config parseWithOverrides(const std::function<toml::table()>& parse, const std::string& sourceName,
                          const std::vector<std::string>& overrides) {
  toml::table root;
  try {
    root = parse();
  } catch (const toml::parse_error& e) {
    throw ConfigError(fmt::format("{}:{}: TOML syntax error: {}", sourceName, e.source().begin.line,
                                  e.description()));
  }
  Config config;
  readTable(config, root, sourceName);
  for (const auto& text : overrides) applyOverride(config, text);
  resolveAndCrossCheck(config);
  return config;
}

}  // namespace

Config parseConfig(const std::string& text, const std::string& sourceName,
                   const std::vector<std::string>& overrides) {
  return parseWithOverrides([&] { return toml::parse(text, sourceName); }, sourceName, overrides);
}

Config loadConfig(const std::filesystem::path& file, const std::vector<std::string>& overrides) {
  if (!std::filesystem::is_regular_file(file)) {
    throw ConfigError(fmt::format("{}: config file not found", file.string()));
  }
  Config config =
      parseWithOverrides([&] { return toml::parse_file(file.string()); }, file.string(), overrides);
  config.sourceFile = file;
  return config;
}

void checkTrainingInputs(const Config& config) {
  if (!config.model.pretrained.empty() && !std::filesystem::exists(config.model.pretrained)) {
    failAt(config, "model.pretrained", "file not found: " + config.model.pretrained);
  }
  const std::pair<const char*, const std::string*> lists[] = {
      {"data.train_list", &config.data.trainList}, {"data.val_list", &config.data.valList}};
  for (const auto& [key, path] : lists) {
    if (path->empty()) failAt(config, key, "must be set for training");
    if (!std::filesystem::is_regular_file(*path)) failAt(config, key, "file not found: " + *path);
  }
  // Shards name their own files (beside the manifest): the root is not read then.
  if (config.data.format != DataFormat::Shards && !config.data.root.empty() &&
      !std::filesystem::is_directory(config.data.root)) {
    failAt(config, "data.root", "directory not found: " + config.data.root);
  }
  checkWorkDir(config);
}

void checkWorkDir(const Config& config) {
  const std::filesystem::path workDir = config.train.workDir;
  // The work dir, or the nearest of its parents that exists: it is created later, with the
  // run's first log line, so a refused run leaves nothing behind.
  std::error_code ec;
  std::filesystem::path dir = std::filesystem::absolute(workDir, ec);
  while (!std::filesystem::exists(dir, ec) && dir.has_relative_path()) {
    if (ec) {
      failAt(config, "train.work_dir",
             fmt::format("cannot create {}: {}: {}", workDir.string(), dir.string(), ec.message()));
    }
    dir = dir.parent_path();
  }
  if (!std::filesystem::is_directory(dir, ec)) {
    failAt(config, "train.work_dir",
           fmt::format("cannot create {}: {} is not a directory", workDir.string(), dir.string()));
  }
  // A file written and removed: permissions, read-only mounts and quotas all show here.
  char host[256] = {};
  ::gethostname(host, sizeof(host) - 1);  // ranks of several nodes may share the directory
  const auto probe = dir / fmt::format(".tsn-write-probe-{}-{}", host, ::getpid());
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int err = fd < 0 ? errno : 0;
  if (fd >= 0) {
    if (::write(fd, "x", 1) != 1) err = errno;
    if (::close(fd) != 0 && err == 0) err = errno;
    ::unlink(probe.c_str());
  }
  if (err != 0) {
    failAt(config, "train.work_dir",
           dir == std::filesystem::absolute(workDir, ec)
               ? fmt::format("cannot write in {}: {}", workDir.string(), std::strerror(err))
               : fmt::format("cannot create {}: cannot write in {}: {}", workDir.string(),
                             dir.string(), std::strerror(err)));
  }
}

std::string toToml(const Config& config) {
  // Rendered here rather than by toml++ so floats print in their shortest exact form
  // (0.05, not 0.050000000000000003).
  std::function<std::string(const toml::node&)> render = [&](const toml::node& node) {
    std::ostringstream os;
    if (const auto* f = node.as_floating_point()) {
      std::string text = fmt::format("{}", f->get());
      if (text.find_first_of(".en") == std::string::npos) text += ".0";
      return text;
    }
    if (const auto* array = node.as_array()) {
      std::vector<std::string> items;
      for (const auto& item : *array) items.push_back(render(item));
      return fmt::format("[{}]", fmt::join(items, ", "));
    }
    node.visit([&os](const auto& value) { os << value; });
    return os.str();
  };
  std::string text;
  for (const auto& [sectionName, section] : toTable(config)) {
    text += fmt::format("[{}]\n", sectionName.str());
    for (const auto& [key, value] : *section.as_table()) {
      text += fmt::format("{} = {}\n", key.str(), render(value));
    }
    text += "\n";
  }
  return text;
}

uint64_t configHash(const Config& config) {
  return fnv1a(toToml(config));
}

bool validationDue(const TrainConfig& train, int64_t epoch) {
  const int64_t interval = train.valInterval;
  return epoch + 1 == train.epochs || (interval > 0 && (epoch + 1) % interval == 0);
}

}  // namespace tsn
