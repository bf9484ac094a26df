#pragma once
/// @file What the schema (ConfigSchema.cpp) is declared with: reading TOML nodes into typed
/// values, writing them back, the checks on values, and field() / enumField(), which bind a key
/// to a Config member with its type, allowed values and description. Internal to tsn_config.

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <toml++/toml.h>

#include <algorithm>
#include <functional>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "common/Strings.h"
#include "config/ConfigSchema.h"

namespace tsn::config::detail {

inline std::string describe(const toml::node& node) {
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
inline int64_t convert<int64_t>(const toml::node& node, const Context& ctx) {
  if (!node.is_integer()) ctx.fail("expected an integer, got " + describe(node));
  return node.as_integer()->get();
}

template <>
inline double convert<double>(const toml::node& node, const Context& ctx) {
  if (node.is_integer()) return static_cast<double>(node.as_integer()->get());
  if (!node.is_floating_point()) ctx.fail("expected a number, got " + describe(node));
  return node.as_floating_point()->get();
}

template <>
inline bool convert<bool>(const toml::node& node, const Context& ctx) {
  if (!node.is_boolean()) ctx.fail("expected true or false, got " + describe(node));
  return node.as_boolean()->get();
}

template <>
inline std::string convert<std::string>(const toml::node& node, const Context& ctx) {
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
inline std::vector<double> convert<std::vector<double>>(const toml::node& node,
                                                        const Context& ctx) {
  return convertArray<double>(node, ctx);
}

template <>
inline std::vector<int64_t> convert<std::vector<int64_t>>(const toml::node& node,
                                                          const Context& ctx) {
  return convertArray<int64_t>(node, ctx);
}

template <>
inline std::vector<std::string> convert<std::vector<std::string>>(const toml::node& node,
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

// ---- checks: "" when the value is fine, else what was expected; and what they allow --------

template <class T>
struct Check {
  std::function<std::string(const T&)> test;  ///< null: any value of the type
  std::string allowed;                        ///< as the reference lists it
};

template <class T>
Check<T> atLeast(T low) {
  return {
      [low](const T& v) { return v >= low ? "" : fmt::format("must be >= {}, got {}", low, v); },
      fmt::format(">= {}", low)};
}

inline Check<double> positive() {
  return {[](const double& v) { return v > 0 ? "" : fmt::format("must be > 0, got {}", v); },
          "> 0"};
}

inline Check<double> inRange(double low, double high, bool highOpen) {
  return {[=](const double& v) {
            const bool ok = v >= low && (highOpen ? v < high : v <= high);
            return ok ? ""
                      : fmt::format("must be in [{}, {}{}, got {}", low, high, highOpen ? ")" : "]",
                                    v);
          },
          fmt::format("[{}, {}{}", low, high, highOpen ? ")" : "]")};
}

inline Check<std::string> oneOf(std::vector<std::string> choices) {
  return {[choices](const std::string& v) {
            if (std::find(choices.begin(), choices.end(), v) != choices.end()) {
              return std::string();
            }
            const std::string near = closestMatch(v, choices);
            return fmt::format("must be one of {}, got \"{}\"{}", fmt::join(choices, " | "), v,
                               near.empty() ? "" : fmt::format(" (did you mean \"{}\"?)", near));
          },
          fmt::format("{}", fmt::join(choices, " \\| "))};
}

inline Check<int64_t> oneOfCounts(std::vector<int64_t> allowed) {
  return {[allowed](const int64_t& v) {
            if (std::find(allowed.begin(), allowed.end(), v) != allowed.end()) {
              return std::string();
            }
            return fmt::format("must be one of {}, got {}", fmt::join(allowed, ", "), v);
          },
          fmt::format("{}", fmt::join(allowed, ", "))};
}

inline Check<std::string> nonEmpty() {
  return {[](const std::string& v) { return v.empty() ? std::string("must not be empty") : ""; },
          "not empty"};
}

/// FFmpeg demuxer names: lower-case letters, digits and underscores.
inline Check<std::vector<std::string>> demuxerNames() {
  return {[](const std::vector<std::string>& names) {
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
          },
          "FFmpeg demuxer names"};
}

inline Check<std::vector<double>> threePositive(bool strictlyPositive) {
  return {[strictlyPositive](const std::vector<double>& v) {
            if (v.size() != 3) return fmt::format("expected 3 values (R, G, B), got {}", v.size());
            for (double x : v) {
              if (strictlyPositive ? x <= 0 : x < 0) {
                return fmt::format("values must be {} 0", strictlyPositive ? ">" : ">=");
              }
            }
            return std::string();
          },
          strictlyPositive ? "3 values > 0 (R, G, B)" : "3 values >= 0 (R, G, B)"};
}

// ---- fields: one per key, used to read, override, write and document it ------------------

template <class T>
constexpr const char* typeName() {
  if constexpr (std::is_same_v<T, bool>) return "boolean";
  if constexpr (std::is_same_v<T, int64_t>) return "integer";
  if constexpr (std::is_same_v<T, double>) return "number";
  if constexpr (std::is_same_v<T, std::string>) return "string";
  if constexpr (std::is_same_v<T, std::vector<double>>) return "array of numbers";
  if constexpr (std::is_same_v<T, std::vector<int64_t>>) return "array of integers";
  if constexpr (std::is_same_v<T, std::vector<std::string>>) return "array of strings";
}

template <class S, class T>
Field field(const std::string& key, S Config::*section, T S::*member, std::string doc,
            Check<T> check = {}) {
  return Field{
      key,
      [=](Config& c, const toml::node& node, const Context& ctx) {
        T value = convert<T>(node, ctx);
        if (check.test) {
          if (const std::string err = check.test(value); !err.empty()) ctx.fail(err);
        }
        (c.*section).*member = std::move(value);
      },
      [=](const Config& c, toml::table& table) { insert(table, key, (c.*section).*member); },
      typeName<T>(),
      check.allowed,
      std::move(doc)};
}

template <class E>
using Names = std::vector<std::pair<std::string, E>>;

template <class S, class E>
Field enumField(const std::string& key, S Config::*section, E S::*member, Names<E> names,
                std::string doc) {
  std::vector<std::string> choices;
  for (const auto& [name, value] : names) choices.push_back(name);
  const auto check = oneOf(choices);
  return Field{key,
               [=](Config& c, const toml::node& node, const Context& ctx) {
                 const auto text = convert<std::string>(node, ctx);
                 if (const std::string err = check.test(text); !err.empty()) ctx.fail(err);
                 for (const auto& [name, value] : names) {
                   if (name == text) (c.*section).*member = value;
                 }
               },
               [=](const Config& c, toml::table& table) {
                 for (const auto& [name, value] : names) {
                   if (value == (c.*section).*member) table.insert_or_assign(key, name);
                 }
               },
               "string",
               check.allowed,
               std::move(doc)};
}

inline const Names<DataFormat> kFormatNames = {{"video", DataFormat::Video},
                                               {"rawframes", DataFormat::Rawframes},
                                               {"shards", DataFormat::Shards}};
inline const Names<ResizeMode> kResizeNames = {{"short_side", ResizeMode::ShortSide},
                                               {"fixed_4_3", ResizeMode::Fixed43}};
inline const Names<ShortVideoMode> kShortVideoNames = {{"repeat_last", ShortVideoMode::RepeatLast},
                                                       {"loop", ShortVideoMode::Loop}};
inline const Names<DistBackend> kBackendNames = {{"auto", DistBackend::Auto},
                                                 {"nccl", DistBackend::Nccl},
                                                 {"mpi", DistBackend::Mpi},
                                                 {"local", DistBackend::Local}};
inline const Names<Precision> kPrecisionNames = {
    {"fp32", Precision::Fp32}, {"bf16", Precision::Bf16}, {"fp16", Precision::Fp16}};

}  // namespace tsn::config::detail
