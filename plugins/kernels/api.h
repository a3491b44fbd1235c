// The public kernel API, mirroring Hugging Face kernels / LLaMA-Factory's kernel plugins.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "kernels/kernelize.h"

namespace fusebox::kernels {

// Ids of the kernels `include_kernels: auto` would consider on `device`: enabled by default,
// built for the device and available in this process. Sorted by id.
std::vector<std::string> get_default_kernels(const DeviceInfo& device = detect_device());

// Installs one kernel into every layer of its kind in `model` (others are left as they are).
// Errors: unknown id (lists the known ones), a kernel for another device, a model without
// that layer, no backward in strict training mode.
KernelizeReport apply_kernel(const std::string& kernel_id, torch::nn::Module& model,
                             const KernelizeOptions& options = {});

// Sets the model's kernels from an include_kernels value ("auto", "true", "false", "", "null",
// "id1,id2"); the kernel_config semantics.
KernelizeReport apply_default_kernels(torch::nn::Module& model,
                                      const std::string& include_kernels = "auto",
                                      const KernelizeOptions& options = {});

}  // namespace fusebox::kernels
