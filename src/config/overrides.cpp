#include "config/overrides.h"

#include <algorithm>
#include <cctype>

#include "util/error.h"
#include "util/strings.h"

namespace fusebox::config {
namespace {

[[noreturn]] void fail(const std::string& text, const std::string& message) {
  throw ConfigError(str("command-line override '", text, "': ", message));
}

bool valid_key_segment(const std::string& s) {
  return !s.empty() && std::none_of(s.begin(), s.end(), [](char c) {
    return std::isspace(static_cast<unsigned char>(c)) || c == '=';
  });
}

YAML::Node parse_value(const std::string& text, const std::string& raw_value) {
  std::string v = trim(raw_value);
  if (v.empty()) return YAML::Node(YAML::NodeType::Null);
  // Only a value written as a flow collection may become one; anything else that YAML would
  // turn into a collection ("a: b", "- x") was meant as the string typed.
  bool flow = v.front() == '[' || v.front() == '{';
  try {
    YAML::Node node = YAML::Load(v);
    if (node.IsScalar() || node.IsNull() || flow) return node;
  } catch (const YAML::Exception& e) {
    // A broken flow collection is a typo to report, not a string to pass on ("[a, b").
    if (flow) fail(text, str("value is not valid YAML: ", e.msg));
  }
  return YAML::Node(v);
}

// Sets root[keys...] = value. Intermediate keys that are missing, null or not mappings become
// new mappings, owned (for error messages) by this override.
void set_path(YAML::Node node, const Override& o, std::size_t depth, const std::string& path,
              ConfigSource& source) {
  const std::string& key = o.keys[depth];
  std::string child_path = join_key_path(path, key);
  if (depth + 1 == o.keys.size()) {
    // Assigning over an existing value would write through a YAML alias ("logging_steps: *n"
    // would follow "max_steps=20"), so the old entry is dropped first.
    node.remove(key);
    node[key] = o.value;
    source.record_override(child_path, o.text);
    return;
  }
  if (!node[key].IsMap()) {
    // Replacing a scalar here is safe: no known scalar key accepts a mapping, so validation
    // still rejects it, and the message then names this override.
    node.remove(key);
    node[key] = YAML::Node(YAML::NodeType::Map);
    source.record_override(child_path, o.text);
  }
  YAML::Node child = node[key];
  set_path(child, o, depth + 1, child_path, source);
}

}  // namespace

Override parse_override(const std::string& text) {
  std::size_t eq = text.find('=');
  if (eq == std::string::npos) {
    fail(text, "expected KEY=VALUE (e.g. max_steps=20 or kernel_config.include_kernels=auto)");
  }
  Override o;
  o.text = text;
  std::string key = trim(text.substr(0, eq));
  if (key.empty()) fail(text, "the key before '=' is empty; expected KEY=VALUE");
  o.keys = split(key, '.');
  for (const std::string& segment : o.keys) {
    if (!valid_key_segment(segment)) {
      fail(text, str("malformed key '", key,
                     "'; expected dot-separated key names such as kernel_config.device"));
    }
  }
  o.value = parse_value(text, text.substr(eq + 1));
  return o;
}

void apply_overrides(YAML::Node& root, const std::vector<std::string>& overrides,
                     ConfigSource& source) {
  for (const std::string& text : overrides) {
    Override o = parse_override(text);
    set_path(root, o, 0, "", source);
  }
}

}  // namespace fusebox::config
