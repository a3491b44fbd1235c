#include "config/config_source.h"

#include "util/error.h"
#include "util/strings.h"

namespace fusebox::config {

void ConfigSource::record_override(const std::string& key_path, const std::string& text) {
  overrides_.push_back({key_path, text});
}

const ConfigSource::OverrideRecord* ConfigSource::find_override(const std::string& key_path) const {
  // Newest first: a later override replaces what an earlier one set at the same path.
  for (auto it = overrides_.rbegin(); it != overrides_.rend(); ++it) {
    const std::string& p = it->key_path;
    bool same = key_path == p;
    bool inside = key_path.size() > p.size() && key_path.compare(0, p.size(), p) == 0 &&
                  key_path[p.size()] == '.';
    if (same || inside) return &*it;
  }
  return nullptr;
}

std::string ConfigSource::where(const std::string& key_path, const YAML::Mark& mark) const {
  if (!key_path.empty()) {
    if (const OverrideRecord* o = find_override(key_path)) {
      return str("command-line override '", o->text, "'");
    }
  }
  // Nodes built by yaml-cpp outside a parse (and empty documents) carry line -1.
  if (mark.line >= 0) return str(source_name_, ":", mark.line + 1);
  return source_name_;
}

void ConfigSource::fail(const std::string& key_path, const YAML::Mark& mark,
                        const std::string& message) const {
  if (key_path.empty()) throw ConfigError(str(where(key_path, mark), ": ", message));
  throw ConfigError(str(where(key_path, mark), ": ", key_path, ": ", message));
}

void ConfigSource::fail_at(const std::string& key_path, const YAML::Mark& mark,
                           const std::string& message) const {
  throw ConfigError(str(where(key_path, mark), ": ", message));
}

std::string join_key_path(const std::string& parent, const std::string& key) {
  return parent.empty() ? key : parent + "." + key;
}

}  // namespace fusebox::config
