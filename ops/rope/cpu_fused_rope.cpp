// cpu_fused_rope: rotary position embedding of q and k in one parallel pass, forward and
// backward, with no cos/sin or rotate_half temporaries.
//
// Per row x of head_dim D = 2 * half (one batch, head, position), with c, s the table values
// for the row's position cast to the storage dtype T, as transformers casts cos/sin:
//   y[i]        = round_T(round_T(x[i] * c[i])        - round_T(x[i + half] * s[i]))
//   y[i + half] = round_T(round_T(x[i + half] * c[i]) + round_T(x[i] * s[i]))
// i.e. q * cos + rotate_half(q) * sin with its two products and its sum each rounded to T,
// which reproduces the reference bit for bit in bf16/fp16 (tested; the roundings are no-ops
// in fp32). The backward is the same pass with s negated: the inverse rotation of the
// incoming gradient, rounded the way autograd rounds the reference's two gradient terms and
// their sum.
// cos/sin come from a process-wide table per dtype (cpu_rope_table.h) built with the
// reference's own ops and cast, so the values are the reference's.
// Dtypes: fp32, bf16, fp16 (q and k of one dtype).
// Layout: q [B, Hq, S, D] and k [B, Hk, S, D] with any strides (the model passes transposed
// views of [B, S, H, D] memory); rows are read in place, in the source's memory order.
// Outputs are contiguous [B, H, S, D], the layout the attention matmul takes without a copy;
// input gradients come back in the inputs' own layout. position_ids: int64 [B, S] or [1, S],
// values in [0, 2^24) (exact in fp32).
// Saved for backward: position_ids, the table and q/k's strides -- no activations.
// Anything else (odd head_dim, other devices, mixed dtypes) runs the reference.
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <memory>
#include <mutex>
#include <string>
#include <tuple>

#include "kernels/register.h"
#include "model/rope.h"
#include "ops/common/cpu_vector.h"
#include "ops/rope/cpu_rope_table.h"
#include "util/log.h"

namespace fusebox::ops {
namespace {

using cpu::from_float;
using cpu::round_to;
using cpu::to_float;

// One tensor's rows: source and destination element strides over (batch, head, position);
// the last dimension is unit-stride in both.
struct RotateArgs {
  const void* src;
  void* dst;
  int64_t heads, seq, half;
  int64_t src_b, src_h, src_s;
  int64_t dst_b, dst_h, dst_s;
  // Rows are visited in the source's memory order: position fastest for [B, H, S, D] memory,
  // head fastest for the [B, S, H, D] memory behind the model's transposed views. Visiting
  // (head, position) rows of [B, S, H, D] memory position-fastest reads one short row per
  // 4-8 KB stride, which the hardware prefetchers do not follow: it measured 2-3x slower.
  bool head_fastest;
  const int64_t* pos;
  int64_t pos_b, pos_s;  // pos_b = 0 when position_ids is [1, S] (shared by the batch)
  const float* cos;      // [positions, half], already rounded to the storage dtype
  const float* sin;
  float sign;  // +1 forward, -1 backward (rotation by -theta)
};

template <typename T>
FUSEBOX_ALWAYS_INLINE void rotate_row(const T* x, T* y, const float* cos, const float* sin,
                                      int64_t half, float sign) {
#pragma omp simd
  for (int64_t i = 0; i < half; ++i) {
    float c = cos[i], s = sign * sin[i];
    float x1 = to_float(x[i]), x2 = to_float(x[i + half]);
    y[i] = from_float<T>(round_to<T>(x1 * c) - round_to<T>(x2 * s));
    y[i + half] = from_float<T>(round_to<T>(x2 * c) + round_to<T>(x1 * s));
  }
}

// Rows [r0, r1) of one tensor, numbered (batch, outer, inner) with inner fastest, where
// (outer, inner) is (head, position) or (position, head). The decomposition of r0 is done
// once, then the indices are stepped (no division per row).
template <typename T>
FUSEBOX_ALWAYS_INLINE void rotate_rows(const RotateArgs& a, int64_t r0, int64_t r1) {
  const int64_t n_inner = a.head_fastest ? a.heads : a.seq;
  const int64_t n_outer = a.head_fastest ? a.seq : a.heads;
  int64_t inner = r0 % n_inner, outer = (r0 / n_inner) % n_outer, b = r0 / (n_inner * n_outer);
  const T* src = static_cast<const T*>(a.src);
  T* dst = static_cast<T*>(a.dst);
  for (int64_t r = r0; r < r1; ++r) {
    int64_t h = a.head_fastest ? inner : outer, s = a.head_fastest ? outer : inner;
    int64_t p = a.pos[b * a.pos_b + s * a.pos_s];
    rotate_row<T>(src + b * a.src_b + h * a.src_h + s * a.src_s,
                  dst + b * a.dst_b + h * a.dst_h + s * a.dst_s, a.cos + p * a.half,
                  a.sin + p * a.half, a.half, a.sign);
    if (++inner == n_inner) {
      inner = 0;
      if (++outer == n_outer) {
        outer = 0;
        ++b;
      }
    }
  }
}

// One non-template entry per dtype: target_clones needs plain functions.
#define FUSEBOX_ROPE_INSTANTIATE(T, suffix)                                           \
  FUSEBOX_CPU_MULTIVERSION void rotate_rows_##suffix(const RotateArgs& a, int64_t r0, \
                                                     int64_t r1) {                    \
    rotate_rows<T>(a, r0, r1);                                                        \
  }
FUSEBOX_ROPE_INSTANTIATE(float, f32)
FUSEBOX_ROPE_INSTANTIATE(c10::BFloat16, bf16)
FUSEBOX_ROPE_INSTANTIATE(c10::Half, f16)
#undef FUSEBOX_ROPE_INSTANTIATE

void rotate_rows_dispatch(torch::ScalarType dt, const RotateArgs& a, int64_t r0, int64_t r1) {
  switch (dt) {
    case torch::kFloat32:
      return rotate_rows_f32(a, r0, r1);
    case torch::kBFloat16:
      return rotate_rows_bf16(a, r0, r1);
    case torch::kHalf:
      return rotate_rows_f16(a, r0, r1);
    default:
      TORCH_CHECK(false, "cpu_fused_rope: unsupported dtype ", dt);
  }
}

RotateArgs make_args(const torch::Tensor& src, const torch::Tensor& dst, const torch::Tensor& pos,
                     const torch::Tensor& cos, const torch::Tensor& sin, float sign) {
  RotateArgs a;
  a.src = src.data_ptr();
  a.dst = dst.data_ptr();
  a.heads = src.size(1);
  a.seq = src.size(2);
  a.half = src.size(3) / 2;
  a.src_b = src.stride(0), a.src_h = src.stride(1), a.src_s = src.stride(2);
  a.dst_b = dst.stride(0), a.dst_h = dst.stride(1), a.dst_s = dst.stride(2);
  a.head_fastest = a.src_h < a.src_s;
  a.pos = pos.data_ptr<int64_t>();
  a.pos_b = pos.size(0) == 1 ? 0 : pos.stride(0);
  a.pos_s = pos.stride(1);
  a.cos = cos.data_ptr<float>();
  a.sin = sin.data_ptr<float>();
  a.sign = sign;
  return a;
}

// Rotates q into q_out and k into k_out in one parallel_for over the rows of both.
void rotate_both(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& q_out,
                 const torch::Tensor& k_out, const torch::Tensor& pos, const torch::Tensor& cos,
                 const torch::Tensor& sin, float sign) {
  RotateArgs qa = make_args(q, q_out, pos, cos, sin, sign);
  RotateArgs ka = make_args(k, k_out, pos, cos, sin, sign);
  int64_t q_rows = q.numel() / q.size(3), k_rows = k.numel() / k.size(3);
  auto dt = q.scalar_type();
  // ~16K elements per task: a few dozen rows, enough to amortise the task and index setup.
  int64_t grain = std::max<int64_t>(1, 16384 / q.size(3));
  at::parallel_for(0, q_rows + k_rows, grain, [&](int64_t b, int64_t e) {
    if (b < q_rows) rotate_rows_dispatch(dt, qa, b, std::min(e, q_rows));
    if (e > q_rows) rotate_rows_dispatch(dt, ka, std::max(b, q_rows) - q_rows, e - q_rows);
  });
}

// Rows must be unit-stride for the vector loop; anything else is copied once.
torch::Tensor unit_inner_stride(const torch::Tensor& t) {
  return t.stride(-1) == 1 ? t : t.contiguous();
}

// The gradient of a tensor with the layout the input had, when that layout is dense: the
// transpose/view backward of the attention then need no copy.
torch::Tensor empty_grad_like(const torch::Tensor& like, const std::vector<int64_t>& strides) {
  if (strides.empty()) return torch::empty(like.sizes(), like.options());
  return torch::empty_strided(like.sizes(), strides, like.options());
}

std::vector<int64_t> dense_strides(const torch::Tensor& t) {
  return t.is_non_overlapping_and_dense() ? t.strides().vec() : std::vector<int64_t>{};
}

class CpuRoPEFunction : public torch::autograd::Function<CpuRoPEFunction> {
 public:
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx,
                                                const torch::Tensor& q, const torch::Tensor& k,
                                                const torch::Tensor& position_ids,
                                                const std::shared_ptr<const RopeTable>& table) {
    auto qi = unit_inner_stride(q), ki = unit_inner_stride(k);
    auto pos = position_ids.contiguous();
    auto q_out = torch::empty(q.sizes(), q.options());
    auto k_out = torch::empty(k.sizes(), k.options());
    rotate_both(qi, ki, q_out, k_out, pos, table->cos, table->sin, 1.f);
    ctx->saved_data["pos"] = pos;
    ctx->saved_data["cos"] = table->cos;
    ctx->saved_data["sin"] = table->sin;
    ctx->saved_data["q_strides"] = dense_strides(q);
    ctx->saved_data["k_strides"] = dense_strides(k);
    return {q_out, k_out};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto pos = ctx->saved_data["pos"].toTensor();
    auto cos = ctx->saved_data["cos"].toTensor();
    auto sin = ctx->saved_data["sin"].toTensor();
    auto dq_out = unit_inner_stride(grads[0]), dk_out = unit_inner_stride(grads[1]);
    auto dq = empty_grad_like(dq_out, ctx->saved_data["q_strides"].toIntVector());
    auto dk = empty_grad_like(dk_out, ctx->saved_data["k_strides"].toIntVector());
    rotate_both(dq_out, dk_out, dq, dk, pos, cos, sin, -1.f);
    return {dq, dk, torch::Tensor(), torch::Tensor()};
  }
};

// Why the kernel cannot take this call, or "" when it can.
std::string unhandled_reason(const model::RotaryEmbeddingImpl& layer, const torch::Tensor& q,
                             const torch::Tensor& k, const torch::Tensor& pos) {
  auto dt = q.scalar_type();
  if (!q.device().is_cpu() || !k.device().is_cpu() || !pos.device().is_cpu())
    return "tensors are not all on the CPU";
  if (dt != torch::kFloat32 && dt != torch::kBFloat16 && dt != torch::kHalf)
    return "dtype is not fp32/bf16/fp16";
  if (k.scalar_type() != dt) return "q and k have different dtypes";
  if (q.dim() != 4 || k.dim() != 4 || pos.dim() != 2) return "q/k are not 4-D or positions 2-D";
  if (pos.scalar_type() != torch::kInt64) return "position_ids are not int64";
  int64_t b = q.size(0), s = q.size(2), d = layer.head_dim();
  if (d % 2 != 0 || q.size(3) != d || k.size(3) != d) return "head_dim is odd or mismatched";
  if (k.size(0) != b || k.size(2) != s || pos.size(1) != s ||
      (pos.size(0) != b && pos.size(0) != 1))
    return "batch or sequence sizes of q, k and position_ids disagree";
  return "";
}

std::tuple<torch::Tensor, torch::Tensor> cpu_fused_rope_forward(
    const model::RotaryEmbeddingImpl& layer, const torch::Tensor& q, const torch::Tensor& k,
    const torch::Tensor& position_ids) {
  std::string why = unhandled_reason(layer, q, k, position_ids);
  int64_t max_pos = 0;
  if (why.empty() && position_ids.numel() > 0) {
    auto [lo, hi] = torch::aminmax(position_ids);
    max_pos = hi.item<int64_t>();
    // Positions are exact fp32 integers below 2^24; the reference rounds larger ones.
    if (lo.item<int64_t>() < 0 || max_pos >= (int64_t{1} << 24))
      why = "a position is negative or >= 2^24";
  }
  if (!why.empty()) {
    static std::once_flag once;
    std::call_once(once, [&] {
      log::debug("cpu_fused_rope: ", why, " (q ", q.sizes(), " ", q.scalar_type(), " on ",
                 q.device(), "); using the reference forward");
    });
    return layer.reference_forward(q, k, position_ids);
  }
  auto table = cpu_rope_table(layer, q.scalar_type(), max_pos + 1);
  auto out = CpuRoPEFunction::apply(q, k, position_ids, table);
  return {out[0], out[1]};
}

}  // namespace
}  // namespace fusebox::ops

FUSEBOX_REGISTER_KERNEL(fusebox::model::RoPELayer, fusebox::ops::cpu_fused_rope_forward,
                        fusebox::kernels::KernelInfo("cpu_fused_rope")
                            .device(fusebox::kernels::DeviceType::kCPU)
                            .backward(true)
                            .default_enabled(true)
                            .priority(10)
                            .description("RoPE of q and k in one pass from a cached cos/sin "
                                         "table; backward = inverse rotation"));
