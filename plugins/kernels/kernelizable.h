// The kernelizable-layer interface. A model layer that kernels may replace derives from
// KernelSlot<Traits>, where Traits names the layer and its forward slot type:
//
//   struct RMSNormLayer {
//     static constexpr const char* kName = "RMSNorm";
//     using Forward = torch::Tensor (*)(const RMSNormImpl& layer, const torch::Tensor& x);
//   };
//   class RMSNormImpl : public torch::nn::Module, public KernelSlot<RMSNormLayer> { ... };
//
// The layer's forward calls kernel_forward() when a kernel is installed and its own
// reference math otherwise. The module tree and parameters never change: a kernel reads the
// host layer's weights.
#pragma once

#include <string>
#include <typeindex>

#include "kernels/kernel_spec.h"

namespace fusebox::kernels {

class Kernelizable {
 public:
  virtual ~Kernelizable() = default;

  virtual const char* layer_name() const = 0;
  virtual std::type_index slot_type() const = 0;

  // Installs `spec` into the forward slot; throws KernelError when the kernel is for another
  // layer kind or its forward has another signature.
  void install_kernel(const KernelSpec& spec);
  void clear_kernel() { kernel_ = nullptr; }
  const KernelSpec* kernel() const { return kernel_; }
  bool kernelized() const { return kernel_ != nullptr; }

 private:
  const KernelSpec* kernel_ = nullptr;
};

template <typename Traits>
class KernelSlot : public Kernelizable {
 public:
  using Forward = typename Traits::Forward;

  const char* layer_name() const override { return Traits::kName; }
  std::type_index slot_type() const override { return typeid(Forward); }

 protected:
  // The installed kernel's forward, or nullptr for the reference.
  Forward kernel_forward() const {
    const KernelSpec* k = kernel();
    // Safe: install_kernel() checked that k->slot_type is typeid(Forward).
    return k ? reinterpret_cast<Forward>(k->forward) : nullptr;
  }
};

}  // namespace fusebox::kernels
