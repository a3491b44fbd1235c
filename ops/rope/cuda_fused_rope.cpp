// cuda_fused_rope, torch side: the autograd Function around the kernel of cuda_fused_rope.cu
// and the kernel's registration for layer "RoPE" on CUDA.
//
// q [B, Hq, S, D] and k [B, Hk, S, D] are read in place with their own strides (the model
// passes transposed views of [B, S, H, D] projections); only a non-unit last-dimension stride
// costs a copy. Outputs are contiguous [B, H, S, D], the layout the attention matmul takes;
// input gradients come back in the inputs' own layout when that layout is dense, so the
// transpose/view backward of the attention needs no copy.
// cos/sin are computed inside the kernel from the layer's own inv_freq tensor, cached per
// (device, head_dim, theta): no table that a large position would have to grow, hence no
// host synchronisation to find the largest position. Saved for backward: position_ids and
// inv_freq, no activations.
// Inputs the kernel does not take (CPU tensors, dtypes other than fp32/bf16/fp16, q and k of
// different dtypes, non-int64 positions, an odd or > 4096 head_dim) run the reference
// instead, logged once at debug level; shapes that do not fit together are an error.
#include <c10/cuda/CUDAGuard.h>
#include <torch/torch.h>

#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/register.h"
#include "model/rope.h"
#include "ops/common/cuda_launch.h"
#include "ops/rope/cuda_fused_rope.h"
#include "util/log.h"

namespace fusebox::ops {
namespace {

// The layer's inv_freq on `device`, computed once by the reference's own code.
torch::Tensor cached_inv_freq(const model::RotaryEmbeddingImpl& layer,
                              const torch::Device& device) {
  using Key = std::tuple<int, int64_t, double>;
  static std::mutex mutex;
  // Never destroyed: freeing CUDA memory from a static destructor can run after the CUDA
  // runtime has shut down.
  static auto* cache = new std::map<Key, torch::Tensor>();
  std::lock_guard<std::mutex> lock(mutex);
  auto& slot = (*cache)[Key{device.index(), layer.head_dim(), layer.rope_theta()}];
  if (!slot.defined()) {
    torch::NoGradGuard no_grad;
    slot = layer.inv_freq(device).contiguous();
  }
  return slot;
}

// Rows must be unit-stride in the last dimension; anything else is copied once.
torch::Tensor unit_inner_stride(const torch::Tensor& t) {
  return t.stride(-1) == 1 ? t : t.contiguous();
}

std::vector<int64_t> dense_strides(const torch::Tensor& t) {
  return t.is_non_overlapping_and_dense() ? t.strides().vec() : std::vector<int64_t>{};
}

torch::Tensor empty_with_strides(const torch::Tensor& like, const std::vector<int64_t>& strides) {
  if (strides.empty()) return torch::empty(like.sizes(), like.options());
  return torch::empty_strided(like.sizes(), strides, like.options());
}

cuda::RopeOperand operand(const torch::Tensor& src, const torch::Tensor& dst) {
  cuda::RopeOperand o;
  if (!src.defined()) return o;  // heads = 0: nothing to rotate
  o.src = src.data_ptr();
  o.dst = dst.data_ptr();
  o.heads = src.size(1);
  o.src_stride_b = src.stride(0), o.src_stride_h = src.stride(1), o.src_stride_s = src.stride(2);
  o.dst_stride_b = dst.stride(0), o.dst_stride_h = dst.stride(1), o.dst_stride_s = dst.stride(2);
  return o;
}

void rotate(const torch::Tensor& q, const torch::Tensor& q_out, const torch::Tensor& k,
            const torch::Tensor& k_out, const torch::Tensor& pos, const torch::Tensor& inv_freq,
            bool inverse) {
  const torch::Tensor& any = q.defined() ? q : k;
  cuda::rope_rotate(operand(q, q_out), operand(k, k_out), any.size(0), any.size(2), any.size(3),
                    pos.data_ptr<int64_t>(), pos.size(0) == 1 ? 0 : pos.stride(0), pos.stride(1),
                    inv_freq.data_ptr<float>(), inverse, *launch_dtype(any.scalar_type()),
                    launch_stream());
}

class CudaRoPEFunction : public torch::autograd::Function<CudaRoPEFunction> {
 public:
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx,
                                                const torch::Tensor& q, const torch::Tensor& k,
                                                const torch::Tensor& position_ids,
                                                const torch::Tensor& inv_freq) {
    const c10::cuda::CUDAGuard guard(q.device());
    // A rotated tensor that takes no part in the loss gets no gradient (not zeros), as with
    // the reference; backward() sees it as undefined.
    ctx->set_materialize_grads(false);
    auto qi = unit_inner_stride(q), ki = unit_inner_stride(k);
    auto q_out = torch::empty(q.sizes(), q.options());
    auto k_out = torch::empty(k.sizes(), k.options());
    rotate(qi, q_out, ki, k_out, position_ids, inv_freq, /*inverse=*/false);
    ctx->saved_data["pos"] = position_ids;
    ctx->saved_data["inv_freq"] = inv_freq;
    ctx->saved_data["q_strides"] = dense_strides(q);
    ctx->saved_data["k_strides"] = dense_strides(k);
    return {q_out, k_out};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto pos = ctx->saved_data["pos"].toTensor();
    auto inv_freq = ctx->saved_data["inv_freq"].toTensor();
    const c10::cuda::CUDAGuard guard(pos.device());
    // An undefined gradient (a rotated tensor unused by the loss) stays undefined.
    torch::Tensor dq_out, dk_out, dq, dk;
    if (grads[0].defined()) {
      dq_out = unit_inner_stride(grads[0]);
      dq = empty_with_strides(dq_out, ctx->saved_data["q_strides"].toIntVector());
    }
    if (grads[1].defined()) {
      dk_out = unit_inner_stride(grads[1]);
      dk = empty_with_strides(dk_out, ctx->saved_data["k_strides"].toIntVector());
    }
    if (dq.defined() || dk.defined()) rotate(dq_out, dq, dk_out, dk, pos, inv_freq, true);
    return {dq, dk, torch::Tensor(), torch::Tensor()};
  }
};

// Why the kernel cannot take this call, or "" when it can.
std::string unhandled_reason(const model::RotaryEmbeddingImpl& layer, const torch::Tensor& q,
                             const torch::Tensor& k, const torch::Tensor& pos) {
  if (!q.is_cuda() || !k.is_cuda() || !pos.is_cuda()) return "a tensor is not on a CUDA device";
  if (!launch_dtype(q.scalar_type())) return "the dtype is not fp32/bf16/fp16";
  if (k.scalar_type() != q.scalar_type()) return "q and k have different dtypes";
  if (pos.scalar_type() != torch::kInt64) return "position_ids are not int64";
  if (layer.head_dim() % 2 != 0 || layer.head_dim() > 4096) return "head_dim is odd or > 4096";
  return "";
}

void check_shapes(const model::RotaryEmbeddingImpl& layer, const torch::Tensor& q,
                  const torch::Tensor& k, const torch::Tensor& pos) {
  const int64_t d = layer.head_dim();
  TORCH_CHECK(q.dim() == 4 && q.size(3) == d, "cuda_fused_rope: expected q of shape [batch, ",
              "heads, seq, ", d, "] (head_dim ", d, "), got ", q.sizes());
  TORCH_CHECK(k.dim() == 4 && k.size(0) == q.size(0) && k.size(2) == q.size(2) && k.size(3) == d,
              "cuda_fused_rope: expected k of shape [", q.size(0), ", kv_heads, ", q.size(2), ", ",
              d, "] matching q ", q.sizes(), ", got ", k.sizes());
  TORCH_CHECK(
      pos.dim() == 2 && pos.size(1) == q.size(2) && (pos.size(0) == q.size(0) || pos.size(0) == 1),
      "cuda_fused_rope: expected position_ids of shape [", q.size(0), ", ", q.size(2), "] or [1, ",
      q.size(2), "] for q ", q.sizes(), ", got ", pos.sizes());
  TORCH_CHECK(k.device() == q.device() && pos.device() == q.device(),
              "cuda_fused_rope: ", "expected q, k and position_ids on one device, got ", q.device(),
              ", ", k.device(), " and ", pos.device());
}

std::tuple<torch::Tensor, torch::Tensor> cuda_fused_rope_forward(
    const model::RotaryEmbeddingImpl& layer, const torch::Tensor& q, const torch::Tensor& k,
    const torch::Tensor& position_ids) {
  std::string why = unhandled_reason(layer, q, k, position_ids);
  if (!why.empty()) {
    static std::once_flag once;
    std::call_once(once, [&] {
      log::debug("cuda_fused_rope: ", why, " (q ", q.sizes(), " ", q.scalar_type(), " on ",
                 q.device(), "); using the reference forward");
    });
    return layer.reference_forward(q, k, position_ids);
  }
  check_shapes(layer, q, k, position_ids);
  auto out = CudaRoPEFunction::apply(q, k, position_ids, cached_inv_freq(layer, q.device()));
  return {out[0], out[1]};
}

}  // namespace
}  // namespace fusebox::ops

FUSEBOX_REGISTER_KERNEL(fusebox::model::RoPELayer, fusebox::ops::cuda_fused_rope_forward,
                        fusebox::kernels::KernelInfo("cuda_fused_rope")
                            .device(fusebox::kernels::DeviceType::kCUDA)
                            .compute_capability(fusebox::ops::cuda::kBuiltMinComputeCapability,
                                                fusebox::ops::cuda::kBuiltMaxComputeCapability)
                            .backward(true)
                            .default_enabled(true)
                            .priority(10)
                            .description("RoPE of q and k in one CUDA launch, cos/sin computed "
                                         "once per position; backward = inverse rotation"));
