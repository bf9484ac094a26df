#pragma once
/// @file The config schema (inside tsn_config): one declaration per key, which reading, `--set`,
/// the resolved dump and error positions all use. Config.cpp parses and writes with it.

#include <toml++/toml.h>

#include <functional>
#include <string>
#include <vector>

#include "config/Config.h"

namespace tsn::config {

/// Where a value came from, for error messages.
struct Context {
  std::string where;  ///< "file.toml:12" or "--set train.lr=0.1"
  std::string key;    ///< "train.lr"

  [[noreturn]] void fail(const std::string& what) const;
};

/// One key: reads a TOML value into a Config (checking it), writes it back, and says what it is
/// for the reference (`tsn_dist --config-reference`).
struct Field {
  std::string key;
  std::function<void(Config&, const toml::node&, const Context&)> read;
  std::function<void(const Config&, toml::table&)> write;
  std::string type;     ///< "integer", "array of numbers", ...
  std::string allowed;  ///< what the check accepts ("" : any value of the type)
  std::string doc;      ///< what it does, one sentence or two
};

struct Section {
  std::string name;
  std::vector<Field> fields;
};

/// Every section and key, in the order the resolved config lists them.
const std::vector<Section>& schema();

/// The reference of every key, generated from the schema: a Markdown table (key, type, default,
/// allowed values, what it does), what docs/config.md holds.
std::string configReference();

/// The section / key of that name; otherwise fails at `ctx` suggesting the closest one.
const Section& findSection(const std::string& name, const Context& ctx);
const Field& findField(const Section& section, const std::string& key, const Context& ctx);

}  // namespace tsn::config
