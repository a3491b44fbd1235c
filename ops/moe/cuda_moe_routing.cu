// cuda_fused_moe's routing sort: the tokens * top_k assignments grouped by expert, on the GPU
// and without a host round trip, so that every expert's rows form one contiguous block that a
// grouped GEMM can take with cumulative offsets.
//
// A stable counting sort in three small kernels (n = tokens * top_k assignments, E experts):
//   1. count:   one warp per tile of kTile assignments builds the tile's expert histogram in
//               shared memory (integer atomics: the result does not depend on their order);
//   2. scan:    one block, one thread per expert, turns the per-tile counts into each tile's
//               first row per expert (running sum over tiles), then a block-wide scan over the
//               experts gives every expert's block (group_end, group_rows);
//   3. scatter: each warp walks its tile in order and places assignment a at
//               next[e] + (lanes before it with the same expert) via __match_any_sync.
// Stable means an expert's rows keep ascending assignment order, so the row order, and with it
// every GEMM's summation order, is the same from run to run. A fourth kernel lists each
// token's rows in ascending order (= expert order), which the combine and dx reductions use
// to add a token's contributions in the reference's order.
//
// Layout: expert ids int64 [n] (torch::topk's output, flattened); everything written is int32
// (rows < 2^31 is checked by the caller). Scratch: [tiles * E] per-tile counters + [n] rows.
#include "ops/moe/cuda_fused_moe.h"

#include <algorithm>

namespace fusebox::ops::cuda {
namespace {

constexpr int kTile = 256;  // assignments per warp tile
constexpr int kWarps = 4;   // warps (tiles) per block in the count and scatter kernels
constexpr int kScanThreads = static_cast<int>(kMoeMaxExperts);

int64_t tile_count(int64_t assignments) {
  return ceil_div(assignments, kTile);
}

__global__ void count_tiles_kernel(const int64_t* __restrict__ ids, int64_t n, int experts,
                                   int64_t tiles, int32_t* __restrict__ tile_counts) {
  extern __shared__ int32_t smem[];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t tile = static_cast<int64_t>(blockIdx.x) * kWarps + warp;
  if (tile >= tiles) return;  // the whole warp leaves; nothing below syncs the block
  int32_t* hist = smem + warp * experts;
  for (int e = lane; e < experts; e += 32)
    hist[e] = 0;
  __syncwarp();
  const int64_t begin = tile * kTile, end = begin + kTile < n ? begin + kTile : n;
  for (int64_t i = begin + lane; i < end; i += 32)
    atomicAdd(&hist[ids[i]], 1);
  __syncwarp();
  for (int e = lane; e < experts; e += 32)
    tile_counts[tile * experts + e] = hist[e];
}

// One block of kScanThreads threads; thread e owns expert e (e < experts).
__global__ void scan_tiles_kernel(int32_t* __restrict__ tile_rows, int64_t tiles, int experts,
                                  int32_t* __restrict__ group_end,
                                  int32_t* __restrict__ group_rows) {
  __shared__ int32_t ends[kScanThreads];
  const int e = threadIdx.x;
  int32_t total = 0;
  if (e < experts) {
    // In place: each tile's count becomes the rows of expert e in the tiles before it.
    for (int64_t tile = 0; tile < tiles; ++tile) {
      int32_t* slot = tile_rows + tile * experts + e;
      const int32_t count = *slot;
      *slot = total;
      total += count;
    }
  }
  ends[e] = total;
  __syncthreads();
  // Inclusive Hillis-Steele scan over the experts: ends[e] = rows of experts 0..e.
  for (int offset = 1; offset < kScanThreads; offset *= 2) {
    const int32_t left = e >= offset ? ends[e - offset] : 0;
    __syncthreads();
    ends[e] += left;
    __syncthreads();
  }
  if (e < experts) {
    const int32_t start = ends[e] - total;
    group_end[e] = ends[e];
    group_rows[e] = total;
    for (int64_t tile = 0; tile < tiles; ++tile)
      tile_rows[tile * experts + e] += start;
  }
}

__global__ void scatter_tiles_kernel(const int64_t* __restrict__ ids, int64_t n, int experts,
                                     int64_t tiles, const int32_t* __restrict__ tile_rows,
                                     int32_t* __restrict__ sorted_assignment,
                                     int32_t* __restrict__ row_of_assignment) {
  extern __shared__ int32_t smem[];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t tile = static_cast<int64_t>(blockIdx.x) * kWarps + warp;
  if (tile >= tiles) return;
  int32_t* next = smem + warp * experts;  // the next free row of each expert for this tile
  for (int e = lane; e < experts; e += 32)
    next[e] = tile_rows[tile * experts + e];
  __syncwarp();
  const unsigned lanes_below = (1u << lane) - 1u;
  const int64_t begin = tile * kTile, end = begin + kTile < n ? begin + kTile : n;
  for (int64_t base = begin; base < end; base += 32) {
    const int64_t a = base + lane;
    const bool active = a < end;
    const unsigned mask = __ballot_sync(0xffffffffu, active);
    if (active) {
      const int e = static_cast<int>(ids[a]);
      const unsigned peers = __match_any_sync(mask, e);
      const int32_t row = next[e] + __popc(peers & lanes_below);
      sorted_assignment[row] = static_cast<int32_t>(a);
      row_of_assignment[a] = row;
      __syncwarp(mask);  // every peer has read next[e] before its lowest lane advances it
      if (lane == __ffs(peers) - 1) next[e] += __popc(peers);
    }
    __syncwarp();
  }
}

// token_rows[t * top_k + rank] = the token's row whose value has that rank among its top_k
// rows. Rows of one token are distinct, so the ranks are a permutation.
__global__ void token_rows_kernel(const int32_t* __restrict__ row_of_assignment, int64_t n,
                                  int top_k, int32_t* __restrict__ token_rows) {
  for (int64_t a = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; a < n;
       a += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t first = a - a % top_k;
    const int32_t row = row_of_assignment[a];
    int rank = 0;
    for (int i = 0; i < top_k; ++i)
      rank += row_of_assignment[first + i] < row;
    token_rows[first + rank] = row;
  }
}

}  // namespace

int64_t moe_sort_scratch_elements(int64_t assignments, int64_t num_experts) {
  return tile_count(assignments) * num_experts + assignments;
}

void moe_sort_by_expert(const int64_t* expert_ids, int64_t tokens, int64_t top_k,
                        int64_t num_experts, int32_t* scratch, int32_t* group_end,
                        int32_t* group_rows, int32_t* sorted_assignment, int32_t* token_rows,
                        cudaStream_t stream) {
  if (num_experts < 1 || num_experts > kMoeMaxExperts || top_k < 1) {
    throw std::invalid_argument(
        "moe_sort_by_expert: expected 1 <= num_experts <= " + std::to_string(kMoeMaxExperts) +
        " and top_k >= 1, but got " + std::to_string(num_experts) + " experts, top_k " +
        std::to_string(top_k));
  }
  const int64_t n = tokens * top_k;
  const int64_t tiles = tile_count(n);
  const int experts = static_cast<int>(num_experts);
  int32_t* tile_rows = scratch;
  int32_t* row_of_assignment = scratch + tiles * num_experts;
  const size_t tile_smem = sizeof(int32_t) * kWarps * experts;
  const auto tile_blocks = static_cast<unsigned>(std::max<int64_t>(ceil_div(tiles, kWarps), 1));

  if (n > 0) {
    count_tiles_kernel<<<tile_blocks, kWarps * 32, tile_smem, stream>>>(expert_ids, n, experts,
                                                                        tiles, tile_rows);
    FUSEBOX_CUDA_CHECK_LAUNCH();
  }
  // Also with n == 0: every expert then gets an empty block.
  scan_tiles_kernel<<<1, kScanThreads, 0, stream>>>(tile_rows, tiles, experts, group_end,
                                                    group_rows);
  FUSEBOX_CUDA_CHECK_LAUNCH();
  if (n == 0) return;
  scatter_tiles_kernel<<<tile_blocks, kWarps * 32, tile_smem, stream>>>(
      expert_ids, n, experts, tiles, tile_rows, sorted_assignment, row_of_assignment);
  FUSEBOX_CUDA_CHECK_LAUNCH();
  constexpr int kThreads = 256;
  const auto blocks = static_cast<unsigned>(
      std::min<int64_t>(ceil_div(n, kThreads), 32LL * multiprocessor_count()));
  token_rows_kernel<<<blocks, kThreads, 0, stream>>>(row_of_assignment, n, static_cast<int>(top_k),
                                                     token_rows);
  FUSEBOX_CUDA_CHECK_LAUNCH();
}

}  // namespace fusebox::ops::cuda
