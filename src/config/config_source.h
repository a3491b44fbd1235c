// Where each value of a config came from, so that an error can point at it: "train.yaml:12"
// for a key in the file, "command-line override 'max_steps=abc'" for a key set on the
// command line. Internal to src/config (includes yaml-cpp, which fusebox_config links
// privately); other layers only see fusebox::ConfigError messages.
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>
#include <utility>
#include <vector>

namespace fusebox::config {

class ConfigSource {
 public:
  // An empty name would make messages start with ":12:"; text without a name gets one.
  explicit ConfigSource(std::string source_name)
      : source_name_(source_name.empty() ? "<inline config>" : std::move(source_name)) {}

  const std::string& source_name() const { return source_name_; }

  // Records that `key_path` (and everything below it) was set by the override `text`.
  // Later records win, as later overrides do.
  void record_override(const std::string& key_path, const std::string& text);

  // "train.yaml:12" / "train.yaml" (no line known) / "command-line override 'x=1'".
  std::string where(const std::string& key_path, const YAML::Mark& mark) const;

  // Throws ConfigError "<where>: <key_path>: <message>"; an empty key_path is left out.
  [[noreturn]] void fail(const std::string& key_path, const YAML::Mark& mark,
                         const std::string& message) const;

  // Throws ConfigError "<where>: <message>" for messages that name the key themselves.
  [[noreturn]] void fail_at(const std::string& key_path, const YAML::Mark& mark,
                            const std::string& message) const;

 private:
  struct OverrideRecord {
    std::string key_path;
    std::string text;
  };
  const OverrideRecord* find_override(const std::string& key_path) const;

  std::string source_name_;
  std::vector<OverrideRecord> overrides_;
};

// "a.b" + "c" -> "a.b.c"; "" + "c" -> "c".
std::string join_key_path(const std::string& parent, const std::string& key);

}  // namespace fusebox::config
