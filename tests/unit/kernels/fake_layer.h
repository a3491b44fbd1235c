// A small kernelizable layer for registry and patcher tests, independent of the model.
#pragma once

#include <torch/torch.h>

#include "kernels/kernelizable.h"

namespace fusebox::test {

class FakeScaleImpl;

struct FakeScaleLayer {
  static constexpr const char* kName = "FakeScale";
  using Forward = torch::Tensor (*)(const FakeScaleImpl& layer, const torch::Tensor& x);
};

// y = x * scale; kernels multiply by other constants so tests can tell who ran.
class FakeScaleImpl : public torch::nn::Module, public kernels::KernelSlot<FakeScaleLayer> {
 public:
  explicit FakeScaleImpl(double scale) : scale(scale) {}
  torch::Tensor forward(const torch::Tensor& x) {
    if (auto kernel = kernel_forward()) return kernel(*this, x);
    return x * scale;
  }
  double scale;
};
TORCH_MODULE(FakeScale);

// A second layer kind with the same forward signature, to prove kernels stay on their layer.
class FakeOtherImpl;
struct FakeOtherLayer {
  static constexpr const char* kName = "FakeOther";
  using Forward = torch::Tensor (*)(const FakeOtherImpl& layer, const torch::Tensor& x);
};
class FakeOtherImpl : public torch::nn::Module, public kernels::KernelSlot<FakeOtherLayer> {
 public:
  torch::Tensor forward(const torch::Tensor& x) {
    if (auto kernel = kernel_forward()) return kernel(*this, x);
    return x;
  }
};
TORCH_MODULE(FakeOther);

// A model holding two FakeScale layers and one FakeOther.
struct FakeModelImpl : torch::nn::Module {
  FakeModelImpl() {
    a = register_module("a", FakeScale(2.0));
    b = register_module("b", FakeScale(3.0));
    other = register_module("other", FakeOther());
  }
  FakeScale a{nullptr}, b{nullptr};
  FakeOther other{nullptr};
};
TORCH_MODULE(FakeModel);

}  // namespace fusebox::test
