// What the registry knows about one kernel. Filled by FUSEBOX_REGISTER_KERNEL (register.h).
#pragma once

#include <string>
#include <typeindex>
#include <vector>

#include "kernels/device.h"

namespace fusebox::kernels {

class Kernelizable;

// TRAINING needs a backward; INFERENCE (score, generate) does not.
enum class KernelMode { kTraining, kInference };
const char* kernel_mode_name(KernelMode mode);

// Answers "can this kernel serve this layer instance?" (dtype, shape, options). On false it
// writes the reason to *why. Null means "every instance of the layer".
using SupportsFn = bool (*)(const Kernelizable& layer, std::string* why);
// Answers "can this kernel run in this process on this device?" (e.g. a CPU feature, a
// library present). Null means always.
using AvailableFn = bool (*)(const DeviceInfo& device, std::string* why);

// The erased forward: a function pointer of the layer kind's slot type, stored as a generic
// function pointer and cast back only after the slot type has been checked.
using ErasedForward = void (*)();

struct KernelSpec {
  std::string id;     // "<device>_fused_<layer>", e.g. cpu_fused_rmsnorm
  std::string layer;  // the layer name it replaces: "RMSNorm", "MLP", "RoPE", ...
  DeviceType device = DeviceType::kCPU;
  int min_compute_capability = 0;  // CUDA only; 0 = no bound
  int max_compute_capability = 0;  // CUDA only; 0 = no bound
  bool has_backward = false;       // serves TRAINING
  bool default_enabled = true;     // included by include_kernels: auto/true
  int priority = 0;                // higher wins when several kernels fit a layer
  std::string description;
  std::string source_file;
  AvailableFn available = nullptr;
  SupportsFn supports = nullptr;
  ErasedForward forward = nullptr;
  std::type_index slot_type = typeid(void);

  std::vector<KernelMode> modes() const;
  // True when the kernel's device matches and the capability range admits `device`.
  bool matches_device(const DeviceInfo& device) const;
  // matches_device() and the runtime availability check; writes the reason on false.
  bool is_available(const DeviceInfo& device, std::string* why = nullptr) const;
  std::string device_requirement() const;  // "cuda (sm_80..sm_90)", "cpu"
};

}  // namespace fusebox::kernels
