// Strict, located reading of a YAML tree: a mapping's keys are checked against a known list
// (with a did-you-mean suggestion), scalars are parsed entirely or rejected, and every error
// names the file, line and key path. Internal to src/config (includes yaml-cpp).
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "config/config_source.h"

namespace fusebox::config {

// Parses one YAML document. Syntax errors name file:line:column; a stream with several
// documents or a top-level value that is not a mapping is an error. An empty document is an
// empty mapping (so that overrides alone can fill it).
YAML::Node load_yaml_document(const std::string& text, const ConfigSource& source);

// Duplicate keys are legal for yaml-cpp (the first one wins a lookup), but in a config they
// are nearly always a paste mistake, so the whole tree is checked once, before overrides.
void check_unique_keys(const YAML::Node& node, const std::string& key_path,
                       const ConfigSource& source);

// Strict scalar parsers: the whole text must be the value. Decimal integers only; numbers
// are locale-independent; bools are true/false in any case (not yes/no/on/off/1/0).
bool parse_int64(const std::string& text, int64_t* out);
bool parse_double(const std::string& text, double* out);
bool parse_bool(const std::string& text, bool* out);

// "'abc'", "null", "a sequence", "a mapping": what a value was, for "got ..." messages.
std::string describe_node(const YAML::Node& node);

// One key of a mapping, able to read its value strictly and to blame it.
class Field {
 public:
  Field(bool present, YAML::Node value, std::string key_path, YAML::Mark key_mark,
        const ConfigSource* source);

  explicit operator bool() const { return present_; }
  bool is_null() const { return value_.IsNull(); }
  const YAML::Node& node() const { return value_; }
  const std::string& path() const { return key_path_; }
  // The value's position, or the key's where the value has none (null values).
  YAML::Mark mark() const;

  int64_t as_int() const;
  double as_double() const;  // finite
  bool as_bool() const;
  std::string as_string() const;  // any scalar's text; null gives ""

  // Throws ConfigError "<where>: <key path>: <message>".
  [[noreturn]] void fail(const std::string& message) const;

 private:
  bool present_;
  YAML::Node value_;
  std::string key_path_;
  YAML::Mark key_mark_;
  const ConfigSource* source_;
};

// The keys a mapping may hold.
struct KeySet {
  std::vector<std::string> known;
  // Unknown keys that are a common slip for a key elsewhere, too far apart for an edit-distance
  // suggestion: {"include_kernels", "kernel_config.include_kernels"}.
  std::vector<std::pair<std::string, std::string>> hints;
};

// A mapping whose keys must all come from a KeySet. A null value stands for an empty
// mapping ("kernel_config:" with nothing under it keeps every default).
class MappingReader {
 public:
  MappingReader(const YAML::Node& node, std::string key_path, YAML::Mark mark, KeySet keys,
                const ConfigSource& source);
  // Reads a nested mapping given as `field`.
  MappingReader(const Field& field, KeySet keys, const ConfigSource& source);

  // `key` must be one of the known keys; an omitted key gives a Field that tests false.
  Field field(const std::string& key) const;
  const std::string& path() const { return key_path_; }

 private:
  struct Entry {
    std::string key;
    YAML::Mark key_mark;
    YAML::Node value;
  };
  void read_entries(const YAML::Node& node);
  [[noreturn]] void fail_unknown(const std::string& key, const YAML::Mark& mark) const;

  std::string key_path_;
  KeySet keys_;
  const ConfigSource* source_;
  YAML::Mark mark_;
  std::vector<Entry> entries_;
};

}  // namespace fusebox::config
