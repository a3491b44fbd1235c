// FUSEBOX_REGISTER_KERNEL: the one line at the bottom of a kernel file that registers it.
//
//   FUSEBOX_REGISTER_KERNEL(model::RMSNormLayer, cpu_fused_rmsnorm_forward,
//                           KernelInfo("cpu_fused_rmsnorm")
//                               .device(DeviceType::kCPU)
//                               .backward(true)
//                               .priority(10));
//
// The forward must have exactly the layer kind's slot type (Traits::Forward); a kernel that
// does not fit its layer fails to compile here, not at run time.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include "kernels/kernel_registry.h"
#include "kernels/kernel_spec.h"

namespace fusebox::kernels {

// Builder for the metadata half of a KernelSpec (C++17 has no designated initialisers).
class KernelInfo {
 public:
  explicit KernelInfo(std::string id) { spec_.id = std::move(id); }
  KernelInfo& device(DeviceType d) {
    spec_.device = d;
    return *this;
  }
  KernelInfo& compute_capability(int min_cc, int max_cc) {
    spec_.min_compute_capability = min_cc;
    spec_.max_compute_capability = max_cc;
    return *this;
  }
  KernelInfo& backward(bool has_backward) {
    spec_.has_backward = has_backward;
    return *this;
  }
  KernelInfo& default_enabled(bool on) {
    spec_.default_enabled = on;
    return *this;
  }
  KernelInfo& priority(int p) {
    spec_.priority = p;
    return *this;
  }
  KernelInfo& description(std::string text) {
    spec_.description = std::move(text);
    return *this;
  }
  KernelInfo& available(AvailableFn fn) {
    spec_.available = fn;
    return *this;
  }
  KernelInfo& supports(SupportsFn fn) {
    spec_.supports = fn;
    return *this;
  }

  const KernelSpec& spec() const { return spec_; }

 private:
  KernelSpec spec_;
};

// "/home/x/fusebox/ops/rmsnorm/cpu_fused_rmsnorm.cpp" -> "ops/rmsnorm/cpu_fused_rmsnorm.cpp":
// messages name the file the way a reader of the repository knows it.
inline const char* short_source_path(const char* path) {
  std::string_view p(path);
  for (std::string_view root : {"/ops/", "/examples/", "/tests/", "/plugins/", "/src/"}) {
    std::size_t pos = p.rfind(root);
    if (pos != std::string_view::npos) return path + pos + 1;
  }
  return path;
}

// Builds the full spec for layer kind Traits. Separate from registration so tests can make
// specs for a private registry.
template <typename Traits>
KernelSpec make_kernel_spec(typename Traits::Forward forward, const KernelInfo& info,
                            const char* source_file) {
  KernelSpec spec = info.spec();
  spec.layer = Traits::kName;
  spec.forward = reinterpret_cast<ErasedForward>(forward);
  spec.slot_type = typeid(typename Traits::Forward);
  spec.source_file = short_source_path(source_file);
  return spec;
}

template <typename Traits>
bool register_kernel(typename Traits::Forward forward, const KernelInfo& info,
                     const char* source_file) {
  KernelRegistry::global().add_deferred(make_kernel_spec<Traits>(forward, info, source_file));
  return true;
}

}  // namespace fusebox::kernels

#define FUSEBOX_KERNEL_CONCAT_INNER(a, b) a##b
#define FUSEBOX_KERNEL_CONCAT(a, b) FUSEBOX_KERNEL_CONCAT_INNER(a, b)

#define FUSEBOX_REGISTER_KERNEL(Traits, forward_fn, info)                                          \
  [[maybe_unused]] static const bool FUSEBOX_KERNEL_CONCAT(fusebox_kernel_registered_, __LINE__) = \
      ::fusebox::kernels::register_kernel<Traits>(forward_fn, info, __FILE__)
