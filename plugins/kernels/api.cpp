#include "kernels/api.h"

namespace fusebox::kernels {

std::vector<std::string> get_default_kernels(const DeviceInfo& device) {
  std::vector<std::string> ids;
  for (const KernelSpec* spec : KernelRegistry::global().all())
    if (spec->default_enabled && spec->is_available(device)) ids.push_back(spec->id);
  return ids;
}

KernelizeReport apply_kernel(const std::string& kernel_id, torch::nn::Module& model,
                             const KernelizeOptions& options) {
  return install_kernels(model, {kernel_id}, options);
}

KernelizeReport apply_default_kernels(torch::nn::Module& model, const std::string& include_kernels,
                                      const KernelizeOptions& options) {
  return kernelize(model, IncludeKernels::parse(include_kernels), options);
}

}  // namespace fusebox::kernels
