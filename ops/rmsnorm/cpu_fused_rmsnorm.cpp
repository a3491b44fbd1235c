// cpu_fused_rmsnorm: RMSNorm forward and backward, one pass over each row per direction.
//
// Forward, per row of H elements (computed in fp32 whatever the storage dtype):
//   r = 1 / sqrt(sum(x^2) / H + eps);  n = round_T(x * r);  y = round_T(n * w)
// The two roundings reproduce transformers' `weight * (x * rsqrt(var + eps)).to(dtype)` in
// bf16/fp16 exactly; in fp32 they are no-ops. Saved for backward: x (the input itself), the
// weight and r per row (fp32) -- never y or n.
// Backward, with g = dy * w:
//   dx = r * (g - n * sum(g * n) / H);  dw = sum over rows of dy * n
// dw is reduced without atomics: each thread accumulates its rows into a private fp32 row,
// and the per-thread rows are summed at the end.
// Dtypes: fp32, bf16, fp16 (x and weight of one dtype). Layout: any; the input is made
// contiguous [rows, H] at entry. Other dtype mixes fall back to the reference forward.
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "kernels/register.h"
#include "model/rmsnorm.h"
#include "ops/common/cpu_vector.h"
#include "util/log.h"

namespace fusebox::ops {
namespace {

using cpu::from_float;
using cpu::to_float;

template <typename T>
FUSEBOX_ALWAYS_INLINE void forward_row(const T* x, const T* w, T* y, float* rstd, int64_t h,
                                       float eps) {
  float sum_sq = 0.f;
#pragma omp simd reduction(+ : sum_sq)
  for (int64_t i = 0; i < h; ++i) {
    float v = to_float(x[i]);
    sum_sq += v * v;
  }
  float r = 1.f / std::sqrt(sum_sq / static_cast<float>(h) + eps);
  *rstd = r;
#pragma omp simd
  for (int64_t i = 0; i < h; ++i) {
    float n = cpu::round_to<T>(to_float(x[i]) * r);
    y[i] = from_float<T>(n * to_float(w[i]));
  }
}

template <typename T>
FUSEBOX_ALWAYS_INLINE void backward_row(const T* x, const T* w, const T* dy, float r, T* dx,
                                        float* dw_acc, int64_t h) {
  float dot = 0.f;  // sum(g * n) with g = dy * w, n = x * r
#pragma omp simd reduction(+ : dot)
  for (int64_t i = 0; i < h; ++i)
    dot += to_float(dy[i]) * to_float(w[i]) * to_float(x[i]) * r;
  float c = dot / static_cast<float>(h);
#pragma omp simd
  for (int64_t i = 0; i < h; ++i) {
    float xv = to_float(x[i]), g = to_float(dy[i]) * to_float(w[i]);
    float n = xv * r;
    dx[i] = from_float<T>(r * (g - n * c));
    // dw sees the rounded normalised value, as the reference's weight * n.to(dtype) does.
    dw_acc[i] += to_float(dy[i]) * cpu::round_to<T>(n);
  }
}

template <typename T>
FUSEBOX_ALWAYS_INLINE void forward_rows(const T* x, const T* w, T* y, float* rstd, int64_t begin,
                                        int64_t end, int64_t h, float eps) {
  for (int64_t row = begin; row < end; ++row)
    forward_row(x + row * h, w, y + row * h, rstd + row, h, eps);
}

template <typename T>
FUSEBOX_ALWAYS_INLINE void backward_rows(const T* x, const T* w, const T* dy, const float* rstd,
                                         T* dx, float* dw_acc, int64_t begin, int64_t end,
                                         int64_t h) {
  for (int64_t row = begin; row < end; ++row)
    backward_row(x + row * h, w, dy + row * h, rstd[row], dx + row * h, dw_acc, h);
}

// One non-template entry per dtype and direction: target_clones needs plain functions.
#define FUSEBOX_RMSNORM_INSTANTIATE(T, suffix)                                                    \
  FUSEBOX_CPU_MULTIVERSION void forward_##suffix(const T* x, const T* w, T* y, float* rstd,       \
                                                 int64_t b, int64_t e, int64_t h, float eps) {    \
    forward_rows<T>(x, w, y, rstd, b, e, h, eps);                                                 \
  }                                                                                               \
  FUSEBOX_CPU_MULTIVERSION void backward_##suffix(const T* x, const T* w, const T* dy,            \
                                                  const float* rstd, T* dx, float* dw, int64_t b, \
                                                  int64_t e, int64_t h) {                         \
    backward_rows<T>(x, w, dy, rstd, dx, dw, b, e, h);                                            \
  }
FUSEBOX_RMSNORM_INSTANTIATE(float, f32)
FUSEBOX_RMSNORM_INSTANTIATE(c10::BFloat16, bf16)
FUSEBOX_RMSNORM_INSTANTIATE(c10::Half, f16)
#undef FUSEBOX_RMSNORM_INSTANTIATE

void forward_dispatch(const torch::Tensor& x, const torch::Tensor& w, torch::Tensor& y,
                      torch::Tensor& rstd, int64_t b, int64_t e, float eps) {
  int64_t h = x.size(1);
  float* r = rstd.data_ptr<float>();
  switch (x.scalar_type()) {
    case torch::kFloat32:
      return forward_f32(x.data_ptr<float>(), w.data_ptr<float>(), y.data_ptr<float>(), r, b, e, h,
                         eps);
    case torch::kBFloat16:
      return forward_bf16(x.data_ptr<c10::BFloat16>(), w.data_ptr<c10::BFloat16>(),
                          y.data_ptr<c10::BFloat16>(), r, b, e, h, eps);
    case torch::kHalf:
      return forward_f16(x.data_ptr<c10::Half>(), w.data_ptr<c10::Half>(), y.data_ptr<c10::Half>(),
                         r, b, e, h, eps);
    default:
      TORCH_CHECK(false, "cpu_fused_rmsnorm: unsupported dtype ", x.scalar_type());
  }
}

void backward_dispatch(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& dy,
                       const torch::Tensor& rstd, torch::Tensor& dx, float* dw, int64_t b,
                       int64_t e) {
  int64_t h = x.size(1);
  const float* r = rstd.data_ptr<float>();
  switch (x.scalar_type()) {
    case torch::kFloat32:
      return backward_f32(x.data_ptr<float>(), w.data_ptr<float>(), dy.data_ptr<float>(), r,
                          dx.data_ptr<float>(), dw, b, e, h);
    case torch::kBFloat16:
      return backward_bf16(x.data_ptr<c10::BFloat16>(), w.data_ptr<c10::BFloat16>(),
                           dy.data_ptr<c10::BFloat16>(), r, dx.data_ptr<c10::BFloat16>(), dw, b, e,
                           h);
    case torch::kHalf:
      return backward_f16(x.data_ptr<c10::Half>(), w.data_ptr<c10::Half>(),
                          dy.data_ptr<c10::Half>(), r, dx.data_ptr<c10::Half>(), dw, b, e, h);
    default:
      TORCH_CHECK(false, "cpu_fused_rmsnorm: unsupported dtype ", x.scalar_type());
  }
}

// Rows per task: enough work per thread to amortise scheduling (~32K elements).
int64_t grain_rows(int64_t h) {
  return std::max<int64_t>(1, 32768 / std::max<int64_t>(h, 1));
}

class CpuRMSNormFunction : public torch::autograd::Function<CpuRMSNormFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& input,
                               const torch::Tensor& weight, double eps) {
    int64_t h = weight.size(0);
    auto x = input.contiguous().view({-1, h});
    auto w = weight.contiguous();
    auto y = torch::empty_like(x);
    auto rstd = torch::empty({x.size(0)}, x.options().dtype(torch::kFloat32));
    at::parallel_for(0, x.size(0), grain_rows(h), [&](int64_t b, int64_t e) {
      forward_dispatch(x, w, y, rstd, b, e, static_cast<float>(eps));
    });
    ctx->save_for_backward({x, w, rstd});
    return y.view(input.sizes());
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    auto saved = ctx->get_saved_variables();
    const auto &x = saved[0], &w = saved[1], &rstd = saved[2];
    int64_t rows = x.size(0), h = x.size(1);
    auto dy = grads[0].contiguous().view({rows, h});
    auto dx = torch::empty_like(x);
    // One private fp32 dw row per chunk of rows; chunks = threads, so each task owns one.
    int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), rows));
    auto partial = torch::zeros({chunks, h}, x.options().dtype(torch::kFloat32));
    float* partial_ptr = partial.data_ptr<float>();
    at::parallel_for(0, chunks, 1, [&](int64_t cb, int64_t ce) {
      for (int64_t c = cb; c < ce; ++c) {
        int64_t b = rows * c / chunks, e = rows * (c + 1) / chunks;
        backward_dispatch(x, w, dy, rstd, dx, partial_ptr + c * h, b, e);
      }
    });
    auto dw = partial.sum(0).to(w.scalar_type());
    auto dinput = dx.view(grads[0].sizes());
    return {dinput, dw, torch::Tensor()};
  }
};

bool kernel_handles(const torch::Tensor& x, const torch::Tensor& w) {
  auto dt = x.scalar_type();
  return x.device().is_cpu() && w.device().is_cpu() && w.scalar_type() == dt &&
         (dt == torch::kFloat32 || dt == torch::kBFloat16 || dt == torch::kHalf) && x.dim() >= 1 &&
         x.size(-1) == w.size(0);
}

torch::Tensor cpu_fused_rmsnorm_forward(const model::RMSNormImpl& layer, const torch::Tensor& x) {
  if (!kernel_handles(x, layer.weight)) {
    // Mixed dtypes (e.g. fp32 weights, bf16 activations) keep the reference's promotion.
    static std::once_flag once;
    std::call_once(once, [&] {
      log::debug("cpu_fused_rmsnorm: input ", x.scalar_type(), " on ", x.device(), " with weight ",
                 layer.weight.scalar_type(), " is not handled; using the reference forward");
    });
    return layer.reference_forward(x);
  }
  return CpuRMSNormFunction::apply(x, layer.weight, layer.eps());
}

}  // namespace
}  // namespace fusebox::ops

FUSEBOX_REGISTER_KERNEL(fusebox::model::RMSNormLayer, fusebox::ops::cpu_fused_rmsnorm_forward,
                        fusebox::kernels::KernelInfo("cpu_fused_rmsnorm")
                            .device(fusebox::kernels::DeviceType::kCPU)
                            .backward(true)
                            .default_enabled(true)
                            .priority(10)
                            .description("RMSNorm forward+backward, one pass per row, fp32 math"));
