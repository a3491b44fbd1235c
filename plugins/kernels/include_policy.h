// The include_kernels policy of kernel_config:
//   omitted, null, false, ""  -> kNone: no kernels, the reference forwards run
//   true, auto                -> kAuto: every default-enabled kernel available on the device
//   "id1, id2"                -> kList: exactly those ids (whitespace stripped)
#pragma once

#include <string>
#include <vector>

namespace fusebox::kernels {

struct IncludeKernels {
  enum class Kind { kNone, kAuto, kList };
  Kind kind = Kind::kNone;
  std::vector<std::string> ids;  // kList only, in the order given, no duplicates

  static IncludeKernels none() { return {}; }
  static IncludeKernels automatic() { return {Kind::kAuto, {}}; }
  static IncludeKernels list(std::vector<std::string> ids);

  // Parses the textual forms above ("null", "false", "", "true", "auto", "a, b");
  // case-insensitive for the keywords. Throws KernelError for an empty entry ("a,,b").
  static IncludeKernels parse(const std::string& text);

  std::string to_string() const;  // "false", "auto", "id1,id2"
};

}  // namespace fusebox::kernels
