// Kernelize your own libtorch model: any module tree that contains fusebox's kernelizable
// layers (here model::RMSNorm) can take fused kernels through the public API, and the
// results match the reference forwards.
//   ./build/bin/kernelize_custom_model
#include <torch/torch.h>

#include <iostream>

#include "kernels/api.h"
#include "model/rmsnorm.h"

namespace {

// A tiny residual block of our own: x + proj(norm(x)).
struct TinyBlockImpl : torch::nn::Module {
  explicit TinyBlockImpl(int64_t dim) {
    norm = register_module("norm", fusebox::model::RMSNorm(dim, 1e-6));
    proj = register_module("proj", torch::nn::Linear(dim, dim));
  }
  torch::Tensor forward(const torch::Tensor& x) { return x + proj(norm(x)); }
  fusebox::model::RMSNorm norm{nullptr};
  torch::nn::Linear proj{nullptr};
};
TORCH_MODULE(TinyBlock);

}  // namespace

int main() {
  namespace fk = fusebox::kernels;
  torch::manual_seed(0);
  // Kernels are chosen for the device the model runs on: the GPU if there is one.
  fk::DeviceInfo device = fk::detect_device();
  torch::Device where = device.type == fk::DeviceType::kCUDA
                            ? torch::Device(torch::kCUDA, device.index)
                            : torch::Device(torch::kCPU);
  TinyBlock block(64);
  block->to(where);
  auto x = torch::randn({8, 64}).to(where);
  auto reference = block(x).detach();

  // Same as `kernel_config: {include_kernels: auto}` in a YAML file.
  fk::KernelizeOptions options;
  options.mode = fk::KernelMode::kInference;
  options.device = device;
  auto report = fk::apply_default_kernels(*block, "auto", options);
  std::cout << report.summary() << "\n";
  for (const auto& patch : report.applied)
    std::cout << "  " << patch.module_path << " <- " << patch.kernel_id << "\n";

  auto fused = block(x).detach();
  double max_diff = (fused - reference).abs().max().item<double>();
  std::cout << "max |kernel - reference| = " << max_diff << "\n";

  fk::unkernelize(*block);  // back to the reference forwards
  bool restored = torch::equal(block(x).detach(), reference);
  if (report.applied.empty() || max_diff > 1e-5 || !restored) {
    std::cerr << "unexpected: applied=" << report.applied.size() << " max_diff=" << max_diff
              << " restored=" << restored << "\n";
    return 1;
  }
  return 0;
}
