// Device detection for kernel selection. The detected device decides which registered
// kernels are listed and applied; kernels of other devices stay registered so that asking
// for one gives a precise error instead of "not found".
#pragma once

#include <string>
#include <vector>

namespace fusebox::kernels {

// Known accelerator families. NPU/XPU/MPS are known by name (so configs and errors can talk
// about them) but fusebox has no kernels for them.
enum class DeviceType { kCPU, kCUDA, kNPU, kXPU, kMPS };

struct DeviceInfo {
  DeviceType type = DeviceType::kCPU;
  int index = 0;
  // CUDA compute capability as major*10+minor (90 for sm_90); 0 elsewhere.
  int compute_capability = 0;
  std::string name;  // e.g. "NVIDIA H100 80GB HBM3", "cpu"

  std::string describe() const;  // "cuda:0 (NVIDIA H100, sm_90)", "cpu"
};

const char* device_type_name(DeviceType type);  // "cpu", "cuda", ...
// Parses "cpu", "cuda", "npu", "xpu", "mps"; throws KernelError listing the known names.
DeviceType parse_device_type(const std::string& name);
const std::vector<DeviceType>& all_device_types();

// The best device this process can use: CUDA (with capability) when libtorch has CUDA and a
// GPU is visible, otherwise CPU.
DeviceInfo detect_device();

// Resolves a config's `device: auto|cpu|cuda`. Asking for cuda where none is available is a
// KernelError that says what was detected.
DeviceInfo resolve_device(const std::string& requested);

}  // namespace fusebox::kernels
