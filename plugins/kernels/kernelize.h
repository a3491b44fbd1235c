// kernelize: the patcher. Walks a module tree, finds every Kernelizable layer and fills its
// forward slot with the kernel the include_kernels policy selects for the device and mode;
// unkernelize() clears every slot so the reference forwards run again.
#pragma once

#include <torch/torch.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "kernels/device.h"
#include "kernels/include_policy.h"
#include "kernels/kernel_registry.h"
#include "kernels/kernelizable.h"

namespace fusebox::kernels {

struct KernelizeOptions {
  KernelMode mode = KernelMode::kTraining;
  DeviceInfo device = detect_device();
  // Every fallback (a kernel without backward under TRAINING, a layer instance a kernel does
  // not support) becomes a KernelError.
  bool strict = false;
  const KernelRegistry* registry = nullptr;  // null = KernelRegistry::global()
};

struct ModulePatch {
  std::string module_path;  // "model.layers.0.self_attn.q_norm"
  std::string layer;        // "RMSNorm"
  std::string kernel_id;    // "cpu_fused_rmsnorm"
};

struct KernelFallback {
  std::string module_path;
  std::string layer;
  std::string kernel_id;
  std::string reason;
  bool requested = false;  // the kernel was named explicitly (logged at warn, not debug)
};

struct KernelizeReport {
  KernelMode mode = KernelMode::kTraining;
  std::string device;
  std::string policy;
  std::vector<ModulePatch> applied;
  std::vector<KernelFallback> fallbacks;
  std::map<std::string, int> reference_layers;  // layer name -> modules left on the reference

  // Modules that got kernel `id`.
  int count(const std::string& kernel_id) const;
  // One line: which kernels went where, and what stayed on the reference.
  std::string summary() const;
  // info: summary(); debug: every module and its kernel, and every fallback with its reason
  // (explicitly requested kernels' fallbacks at warn).
  void log() const;
};

// Every Kernelizable module of `model` with its dotted path, in module order.
std::vector<std::pair<std::string, Kernelizable*>> kernelizable_modules(torch::nn::Module& model);

// Sets the model's kernels to exactly what `policy` selects (clearing any installed before).
KernelizeReport kernelize(torch::nn::Module& model, const IncludeKernels& policy,
                          const KernelizeOptions& options = {});

// Installs the named kernels on top of whatever is installed already.
KernelizeReport install_kernels(torch::nn::Module& model, const std::vector<std::string>& ids,
                                const KernelizeOptions& options = {});

// Clears every slot: the reference forwards run again.
void unkernelize(torch::nn::Module& model);

}  // namespace fusebox::kernels
