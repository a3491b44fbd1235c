// Command-line overrides: "a.b.c=value" strings applied to the YAML tree before validation,
// so an override meets exactly the checks a key in the file meets, and its errors name the
// override instead of file:line. Internal to src/config (includes yaml-cpp).
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

#include "config/config_source.h"

namespace fusebox::config {

struct Override {
  std::string text;               // as given, for messages
  std::vector<std::string> keys;  // "kernel_config.device" -> {"kernel_config", "device"}
  YAML::Node value;
};

// Splits at the first '='. The value is read as YAML ("20", "false", "[a, b]", "'quoted'"),
// except that a value YAML would make into a collection without being written as a flow
// collection ("a: b", "- x") stays the plain string typed; an empty value is null.
// Throws ConfigError naming the override when there is no '=' or the key is malformed.
Override parse_override(const std::string& text);

// Sets each override in `root` (a mapping) in order, creating or replacing intermediate
// mappings, and records in `source` which key paths the overrides own.
void apply_overrides(YAML::Node& root, const std::vector<std::string>& overrides,
                     ConfigSource& source);

}  // namespace fusebox::config
