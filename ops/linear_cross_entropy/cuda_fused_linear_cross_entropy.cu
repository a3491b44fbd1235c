// cuda_fused_linear_cross_entropy's row kernel: for one chunk of logits z = h W^T (computed by
// cuBLAS in the input dtype, exactly as the reference's linear()), everything the loss needs
// from a row in one block and two passes over it:
//   pass 1   m = max_j z_j and s = sum_j exp(z_j - m), online (a running max rescales the
//            running sum), so the row is read once for both;
//            loss = -((z_t - m) - log s)        -- log_softmax then nll, as torch computes them
//   pass 2   dz_j = round((exp((z_j - m) - log s) - [j == t]) / denom), written over z_j
// The gradient is the one autograd produces for the reference: cross_entropy's backward in
// fp32 ((softmax - onehot) * grad, grad = 1 / denom from the division by the normaliser),
// then rounded to the logits' dtype by the backward of the reference's .to(float32).
// Ignored rows write loss 0 and a zero gradient row without reading the logits.
//
// Dtypes: fp32, bf16, fp16 logits; all math in fp32 (expf/logf, no fast-math intrinsics).
// Layout: [rows, vocab] row-major, one block per row; 16-byte packs when vocab and the base
// pointer allow. Nothing is saved: the torch side keeps only dh and dW (see the .cpp).
#include <cmath>

#include "ops/linear_cross_entropy/cuda_fused_linear_cross_entropy.h"

namespace fusebox::ops::cuda {
namespace {

// Adds x to a running (max m, sum s of exp(. - m)). Equal values skip the exp, which also
// keeps a row that starts with -inf from producing exp(-inf - -inf) = NaN.
__device__ __forceinline__ void online_add(float& m, float& s, float x) {
  if (x > m) {
    s = s * expf(m - x) + 1.f;
    m = x;
  } else {
    s += x == m ? 1.f : expf(x - m);
  }
}

// Merges a second (m2, s2) into (m, s). An empty side is (-inf, 0) and contributes nothing;
// NaN in either propagates.
__device__ __forceinline__ void merge(float& m, float& s, float m2, float s2) {
  if (m2 > m) {
    s = s * expf(m - m2) + s2;
    m = m2;
  } else {
    s += s2 * (m2 == m ? 1.f : expf(m2 - m));
  }
}

// The block's (m, s), returned to every thread.
__device__ void block_max_sum(float& m, float& s) {
  __shared__ float ms[32], ss[32];
  for (int offset = 16; offset > 0; offset /= 2) {
    const float m2 = __shfl_xor_sync(0xffffffffu, m, offset);
    const float s2 = __shfl_xor_sync(0xffffffffu, s, offset);
    merge(m, s, m2, s2);
  }
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) {
    ms[warp] = m;
    ss[warp] = s;
  }
  __syncthreads();
  if (warp == 0) {
    const bool here = lane < static_cast<int>(blockDim.x / 32);
    m = here ? ms[lane] : -INFINITY;
    s = here ? ss[lane] : 0.f;
    for (int offset = 16; offset > 0; offset /= 2) {
      const float m2 = __shfl_xor_sync(0xffffffffu, m, offset);
      const float s2 = __shfl_xor_sync(0xffffffffu, s, offset);
      merge(m, s, m2, s2);
    }
    if (lane == 0) {
      ms[0] = m;
      ss[0] = s;
    }
  }
  __syncthreads();
  m = ms[0];
  s = ss[0];
}

template <typename T, int V>
__global__ void cross_entropy_rows_kernel(T* __restrict__ logits, int64_t vocab,
                                          const int64_t* __restrict__ targets, int64_t ignore_index,
                                          const float* __restrict__ denom, bool write_grad,
                                          float* __restrict__ row_loss) {
  const int64_t row = blockIdx.x;
  T* z = logits + row * vocab;
  const int64_t target = targets[row];
  const int64_t step = static_cast<int64_t>(blockDim.x) * V;
  const int64_t first = static_cast<int64_t>(threadIdx.x) * V;

  if (target == ignore_index) {
    if (threadIdx.x == 0) row_loss[row] = 0.f;
    if (!write_grad) return;
    Pack<T, V> zero;
#pragma unroll
    for (int k = 0; k < V; ++k)
      zero.v[k] = from_float<T>(0.f);
    for (int64_t c = first; c < vocab; c += step)
      store_pack<T, V>(z + c, zero);
    return;
  }

  const bool in_range = target >= 0 && target < vocab;
  // Read before pass 2 overwrites the row; the barriers in block_max_sum order the two.
  const float z_t = in_range ? to_float(z[target]) : NAN;
  float m = -INFINITY, s = 0.f;
  for (int64_t c = first; c < vocab; c += step) {
    const Pack<T, V> p = load_pack<T, V>(z + c);
#pragma unroll
    for (int k = 0; k < V; ++k)
      online_add(m, s, to_float(p.v[k]));
  }
  block_max_sum(m, s);
  const float log_s = logf(s);
  if (threadIdx.x == 0) row_loss[row] = -((z_t - m) - log_s);
  if (!write_grad) return;

  const float scale = 1.f / *denom;
  for (int64_t c = first; c < vocab; c += step) {
    Pack<T, V> p = load_pack<T, V>(z + c);
#pragma unroll
    for (int k = 0; k < V; ++k) {
      const float prob = expf((to_float(p.v[k]) - m) - log_s);
      const float onehot = c + k == target ? 1.f : 0.f;
      p.v[k] = from_float<T>(in_range ? (prob - onehot) * scale : NAN);
    }
    store_pack<T, V>(z + c, p);
  }
}

template <typename T, int V>
void launch(void* logits, int64_t rows, int64_t vocab, const int64_t* targets, int64_t ignore_index,
            const float* denom, bool write_grad, float* row_loss, cudaStream_t stream) {
  // Enough threads that a long row (a 150k vocabulary: ~19k packs) takes a few dozen steps
  // per thread, few enough that a short one does not leave most of the block idle.
  const int64_t packs = ceil_div(vocab, V);
  const int threads = packs >= 8192 ? 512 : packs >= 1024 ? 256 : 64;
  cross_entropy_rows_kernel<T, V><<<static_cast<unsigned>(rows), threads, 0, stream>>>(
      static_cast<T*>(logits), vocab, targets, ignore_index, denom, write_grad, row_loss);
  FUSEBOX_CUDA_CHECK_LAUNCH();
}

}  // namespace

void cross_entropy_rows(void* logits, int64_t rows, int64_t vocab, const int64_t* targets,
                        int64_t ignore_index, const float* denom, bool write_grad, float* row_loss,
                        DType dtype, cudaStream_t stream) {
  if (rows == 0) return;
  if (rows > 0x7fffffff) {
    throw std::invalid_argument("cross_entropy_rows: at most 2^31 - 1 rows per call, got " +
                                std::to_string(rows));
  }
  dispatch_dtype(dtype, [&](auto zero) {
    using T = decltype(zero);
    constexpr int V = kVec16<T>;
    // Every row starts on a 16-byte boundary only when the row's byte length is a multiple.
    if (vocab % V == 0 && is_aligned(logits, 16)) {
      launch<T, V>(logits, rows, vocab, targets, ignore_index, denom, write_grad, row_loss, stream);
    } else {
      launch<T, 1>(logits, rows, vocab, targets, ignore_index, denom, write_grad, row_loss, stream);
    }
  });
}

}  // namespace fusebox::ops::cuda
