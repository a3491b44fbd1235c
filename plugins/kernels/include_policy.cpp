#include "kernels/include_policy.h"

#include <algorithm>

#include "util/error.h"
#include "util/strings.h"

namespace fusebox::kernels {

IncludeKernels IncludeKernels::list(std::vector<std::string> ids) {
  IncludeKernels policy;
  policy.kind = Kind::kList;
  for (auto& id : ids) {
    std::string clean = trim(id);
    if (clean.empty()) throw KernelError("include_kernels: empty kernel id in the list");
    if (std::find(policy.ids.begin(), policy.ids.end(), clean) == policy.ids.end())
      policy.ids.push_back(clean);
  }
  if (policy.ids.empty()) return none();
  return policy;
}

IncludeKernels IncludeKernels::parse(const std::string& text) {
  std::string t = trim(text);
  std::string lower = to_lower(t);
  if (lower.empty() || lower == "null" || lower == "~" || lower == "false" || lower == "none")
    return none();
  if (lower == "true" || lower == "auto") return automatic();
  std::vector<std::string> parts = split(t, ',');
  for (const auto& p : parts) {
    if (trim(p).empty())
      throw KernelError(str("include_kernels: empty kernel id in '", text,
                            "'; expected comma-separated ids like 'cpu_fused_rmsnorm, ",
                            "cpu_fused_swiglu'"));
  }
  return list(parts);
}

std::string IncludeKernels::to_string() const {
  switch (kind) {
    case Kind::kNone:
      return "false";
    case Kind::kAuto:
      return "auto";
    case Kind::kList:
      return join(ids, ",");
  }
  return "false";
}

}  // namespace fusebox::kernels
