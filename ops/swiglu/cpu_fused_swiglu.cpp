// cpu_fused_swiglu: the Qwen3 MLP, down_proj(silu(gate_proj x) * up_proj x), with the SwiGLU
// activation fused into one pass per direction.
//
// The three GEMMs stay torch::linear (BLAS/oneDNN; autograd differentiates them). Between
// them, one pass over the two GEMM outputs g and u, fp32 math whatever the storage dtype:
//   s = sigmoid(g);  a = round_T(g * s);  h = round_T(a * u)
// round_T rounds to the storage dtype: the two roundings are what transformers'
// `act_fn(gate_proj(x)) * up_proj(x)` does in bf16/fp16 (silu's output is a tensor of the
// dtype); in fp32 they are no-ops. Saved for backward: g and u only (not h, a or s; h is
// saved by down_proj's linear anyway). The backward recomputes s in one pass:
//   du = round_T(dh * a);  dg = round_T(round_T(dh * u) * s * (1 + g * (1 - s)))
// where round_T(dh * u) is the reference's gradient of silu's output.
// Dtypes: fp32, bf16, fp16 (x and the three weights of one dtype; other mixes and devices
// run the reference). Layout: any; g and u come out of torch::linear contiguous.
//
// fp16 works but its loops do not vectorise (c10::Half's software conversion branches); it
// matters little on CPU, where libtorch 1.13 has no fp16 matmul for the GEMMs anyway.
//
// Not done, and why:
// - One GEMM on concatenated gate/up weights: the two weights are separate parameters, so the
//   concatenation would copy both every step (they change at every optimizer step); two
//   GEMMs with the same x cost the same FLOPs without it.
// - The whole MLP as one autograd Function with hand-written GEMM backward: it would run the
//   same six GEMMs, which are over 90% of the MLP's time (fusebox_bench, case mlp), so it
//   cannot be measurably faster; autograd keeps the GEMMs' backward exact and simple.
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <mutex>

#include "kernels/register.h"
#include "model/mlp.h"
#include "ops/common/cpu_math.h"
#include "ops/common/cpu_vector.h"
#include "ops/swiglu/cpu_fused_swiglu.h"
#include "util/log.h"

namespace fusebox::ops {
namespace {

using cpu::from_float;
using cpu::round_to;
using cpu::to_float;

template <typename T>
FUSEBOX_ALWAYS_INLINE void forward_range(const T* g, const T* u, T* h, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    float gv = to_float(g[i]);
    float a = round_to<T>(gv * cpu::sigmoid_f32(gv));
    h[i] = from_float<T>(a * to_float(u[i]));
  }
}

template <typename T>
FUSEBOX_ALWAYS_INLINE void backward_range(const T* g, const T* u, const T* dh, T* dg, T* du,
                                          int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    float gv = to_float(g[i]), d = to_float(dh[i]);
    float s = cpu::sigmoid_f32(gv);
    float a = round_to<T>(gv * s);
    float da = round_to<T>(d * to_float(u[i]));
    // silu'(g) = s * (1 + g * (1 - s)), multiplied in ATen's silu_backward order.
    dg[i] = from_float<T>(da * s * (1.f + gv * (1.f - s)));
    du[i] = from_float<T>(d * a);
  }
}

// One non-template entry per dtype and direction: target_clones needs plain functions.
#define FUSEBOX_SWIGLU_INSTANTIATE(T, suffix)                                                 \
  FUSEBOX_CPU_MULTIVERSION void forward_##suffix(const T* g, const T* u, T* h, int64_t n) {   \
    forward_range<T>(g, u, h, n);                                                             \
  }                                                                                           \
  FUSEBOX_CPU_MULTIVERSION void backward_##suffix(const T* g, const T* u, const T* dh, T* dg, \
                                                  T* du, int64_t n) {                         \
    backward_range<T>(g, u, dh, dg, du, n);                                                   \
  }
FUSEBOX_SWIGLU_INSTANTIATE(float, f32)
FUSEBOX_SWIGLU_INSTANTIATE(c10::BFloat16, bf16)
FUSEBOX_SWIGLU_INSTANTIATE(c10::Half, f16)
#undef FUSEBOX_SWIGLU_INSTANTIATE

// Elements per task: large enough to amortise scheduling, small enough to balance 2-64 threads.
constexpr int64_t kGrain = 1 << 15;

template <typename T>
T* ptr(const torch::Tensor& t) {
  return static_cast<T*>(t.data_ptr());
}

void forward_dispatch(const torch::Tensor& g, const torch::Tensor& u, const torch::Tensor& h) {
  at::parallel_for(0, g.numel(), kGrain, [&](int64_t b, int64_t e) {
    switch (g.scalar_type()) {
      case torch::kFloat32:
        return forward_f32(ptr<float>(g) + b, ptr<float>(u) + b, ptr<float>(h) + b, e - b);
      case torch::kBFloat16:
        return forward_bf16(ptr<c10::BFloat16>(g) + b, ptr<c10::BFloat16>(u) + b,
                            ptr<c10::BFloat16>(h) + b, e - b);
      case torch::kHalf:
        return forward_f16(ptr<c10::Half>(g) + b, ptr<c10::Half>(u) + b, ptr<c10::Half>(h) + b,
                           e - b);
      default:
        TORCH_CHECK(false, "cpu_fused_swiglu: unsupported dtype ", g.scalar_type());
    }
  });
}

void backward_dispatch(const torch::Tensor& g, const torch::Tensor& u, const torch::Tensor& dh,
                       const torch::Tensor& dg, const torch::Tensor& du) {
  at::parallel_for(0, g.numel(), kGrain, [&](int64_t b, int64_t e) {
    switch (g.scalar_type()) {
      case torch::kFloat32:
        return backward_f32(ptr<float>(g) + b, ptr<float>(u) + b, ptr<float>(dh) + b,
                            ptr<float>(dg) + b, ptr<float>(du) + b, e - b);
      case torch::kBFloat16:
        return backward_bf16(ptr<c10::BFloat16>(g) + b, ptr<c10::BFloat16>(u) + b,
                             ptr<c10::BFloat16>(dh) + b, ptr<c10::BFloat16>(dg) + b,
                             ptr<c10::BFloat16>(du) + b, e - b);
      case torch::kHalf:
        return backward_f16(ptr<c10::Half>(g) + b, ptr<c10::Half>(u) + b, ptr<c10::Half>(dh) + b,
                            ptr<c10::Half>(dg) + b, ptr<c10::Half>(du) + b, e - b);
      default:
        TORCH_CHECK(false, "cpu_fused_swiglu: unsupported dtype ", g.scalar_type());
    }
  });
}

class CpuSwiGLUFunction : public torch::autograd::Function<CpuSwiGLUFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& gate,
                               const torch::Tensor& up) {
    auto g = gate.contiguous();
    auto u = up.contiguous();
    auto h = torch::empty(g.sizes(), g.options());
    forward_dispatch(g, u, h);
    ctx->save_for_backward({g, u});
    return h;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    auto saved = ctx->get_saved_variables();
    const auto &g = saved[0], &u = saved[1];
    auto dh = grads[0].contiguous();
    auto dg = torch::empty(g.sizes(), g.options());
    auto du = torch::empty(u.sizes(), u.options());
    backward_dispatch(g, u, dh, dg, du);
    return {dg, du};
  }
};

bool is_kernel_dtype(torch::ScalarType dt) {
  return dt == torch::kFloat32 || dt == torch::kBFloat16 || dt == torch::kHalf;
}

torch::Tensor cpu_fused_swiglu_forward(const model::Qwen3MLPImpl& layer, const torch::Tensor& x) {
  const auto& wg = layer.gate_proj->weight;
  const auto& wu = layer.up_proj->weight;
  const auto& wd = layer.down_proj->weight;
  auto dt = x.scalar_type();
  bool handled = x.device().is_cpu() && is_kernel_dtype(dt) && wg.scalar_type() == dt &&
                 wu.scalar_type() == dt && wd.scalar_type() == dt && wg.device().is_cpu();
  if (!handled) {
    // Mixed dtypes keep the reference's type promotion; other devices have their own kernels.
    static std::once_flag once;
    std::call_once(once, [&] {
      log::debug("cpu_fused_swiglu: input ", dt, " on ", x.device(), " with weights ",
                 wg.scalar_type(), " is not handled; using the reference forward");
    });
    return layer.reference_forward(x);
  }
  auto gate = torch::linear(x, wg);
  auto up = torch::linear(x, wu);
  return torch::linear(CpuSwiGLUFunction::apply(gate, up), wd);
}

}  // namespace

torch::Tensor cpu_swiglu_activation(const torch::Tensor& gate, const torch::Tensor& up) {
  TORCH_CHECK(gate.sizes() == up.sizes(), "cpu_swiglu_activation: expected gate and up of one ",
              "shape, but got gate ", gate.sizes(), " and up ", up.sizes());
  if (!gate.device().is_cpu() || !up.device().is_cpu() || !is_kernel_dtype(gate.scalar_type()) ||
      up.scalar_type() != gate.scalar_type()) {
    return torch::silu(gate) * up;
  }
  return CpuSwiGLUFunction::apply(gate, up);
}

}  // namespace fusebox::ops

FUSEBOX_REGISTER_KERNEL(fusebox::model::MLPLayer, fusebox::ops::cpu_fused_swiglu_forward,
                        fusebox::kernels::KernelInfo("cpu_fused_swiglu")
                            .device(fusebox::kernels::DeviceType::kCPU)
                            .backward(true)
                            .default_enabled(true)
                            .priority(10)
                            .description("SwiGLU MLP: silu(g) * u fused into one pass per "
                                         "direction between the GEMMs, saves only g and u"));
