#include "kernels/kernel_spec.h"

#include "util/strings.h"

namespace fusebox::kernels {

const char* kernel_mode_name(KernelMode mode) {
  return mode == KernelMode::kTraining ? "training" : "inference";
}

std::vector<KernelMode> KernelSpec::modes() const {
  if (has_backward) return {KernelMode::kTraining, KernelMode::kInference};
  return {KernelMode::kInference};
}

bool KernelSpec::matches_device(const DeviceInfo& d) const {
  if (d.type != device) return false;
  if (device != DeviceType::kCUDA) return true;
  if (min_compute_capability && d.compute_capability < min_compute_capability) return false;
  if (max_compute_capability && d.compute_capability > max_compute_capability) return false;
  return true;
}

bool KernelSpec::is_available(const DeviceInfo& d, std::string* why) const {
  if (!matches_device(d)) {
    if (why) *why = str("needs ", device_requirement(), ", detected ", d.describe());
    return false;
  }
  std::string reason;
  if (available && !available(d, &reason)) {
    if (why) *why = reason.empty() ? "its availability check failed" : reason;
    return false;
  }
  return true;
}

std::string KernelSpec::device_requirement() const {
  std::string out = device_type_name(device);
  if (device == DeviceType::kCUDA && (min_compute_capability || max_compute_capability)) {
    out +=
        str(" (sm_", min_compute_capability ? std::to_string(min_compute_capability) : "any",
            "..sm_", max_compute_capability ? std::to_string(max_compute_capability) : "any", ")");
  }
  return out;
}

}  // namespace fusebox::kernels
