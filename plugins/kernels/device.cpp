#include "kernels/device.h"

#include <torch/torch.h>

#include "util/error.h"
#include "util/strings.h"

#ifdef FUSEBOX_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

namespace fusebox::kernels {

std::string DeviceInfo::describe() const {
  if (type == DeviceType::kCPU) return "cpu";
  std::string out = str(device_type_name(type), ":", index);
  if (!name.empty() || compute_capability) {
    out += " (" + name;
    if (compute_capability) out += str(name.empty() ? "" : ", ", "sm_", compute_capability);
    out += ")";
  }
  return out;
}

const char* device_type_name(DeviceType type) {
  switch (type) {
    case DeviceType::kCPU:
      return "cpu";
    case DeviceType::kCUDA:
      return "cuda";
    case DeviceType::kNPU:
      return "npu";
    case DeviceType::kXPU:
      return "xpu";
    case DeviceType::kMPS:
      return "mps";
  }
  return "unknown";
}

const std::vector<DeviceType>& all_device_types() {
  static const std::vector<DeviceType> types = {
      DeviceType::kCPU, DeviceType::kCUDA, DeviceType::kNPU, DeviceType::kXPU, DeviceType::kMPS};
  return types;
}

DeviceType parse_device_type(const std::string& name) {
  std::string lower = to_lower(trim(name));
  std::vector<std::string> known;
  for (DeviceType t : all_device_types()) {
    if (lower == device_type_name(t)) return t;
    known.push_back(device_type_name(t));
  }
  throw KernelError(str("unknown device '", name, "'; known devices: ", join(known, ", ")));
}

DeviceInfo detect_device() {
  DeviceInfo info;
  if (torch::cuda::is_available()) {
    info.type = DeviceType::kCUDA;
    info.index = 0;
#ifdef FUSEBOX_WITH_CUDA
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, info.index) == cudaSuccess) {
      info.compute_capability = prop.major * 10 + prop.minor;
      info.name = prop.name;
    }
#endif
    return info;
  }
  info.name = "cpu";
  return info;
}

DeviceInfo resolve_device(const std::string& requested) {
  std::string r = to_lower(trim(requested));
  DeviceInfo detected = detect_device();
  if (r.empty() || r == "auto") return detected;
  DeviceType want = parse_device_type(r);
  if (want == detected.type) return detected;
  if (want == DeviceType::kCPU) {
    DeviceInfo cpu;
    cpu.name = "cpu";
    return cpu;
  }
  throw KernelError(str("device '", r, "' was requested but is not available; detected device: ",
                        detected.describe()));
}

}  // namespace fusebox::kernels
