// CUDA timing and memory for the benchmark harness (bench_cuda.cpp, built only with a CUDA
// libtorch; the harness calls it for cases whose device is CUDA).
//
// Time: CUDA events recorded on torch's current stream around one run, after the L2 cache has
// been overwritten (so inputs come from HBM, as the memory floor assumes); the host waits for
// the end event only after the run has been fully enqueued, so queueing overhead that the GPU
// hides is not counted but a GPU left idle by the host is. Memory: the CUDA caching
// allocator's allocated-bytes statistics (current and peak), i.e. tensor memory; cuBLAS
// workspaces and the allocator's cached-but-free blocks are not counted.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace fusebox::bench::cuda {

// "NVIDIA H200 (sm_90, 132 SMs, 140 GB)"; empty when no GPU is visible.
std::string device_description();

// Overwrites a buffer larger than any L2 cache (256 MB) on the current stream.
void flush_l2();

// Milliseconds between events recorded on the current stream before and after `run`.
double time_ms(const std::function<void()>& run);

void synchronize();

// Tensor bytes held by the caching allocator on the current device, now and at the peak
// since reset_peak().
int64_t live_bytes();
int64_t peak_bytes();
void reset_peak();

// dst.copy_(src) of `buffer_mb` MB into a warm buffer, read + write counted, fastest of
// `runs` after `warmup`: the device-to-device copy bandwidth in GB/s.
double copy_gbs(double buffer_mb, int warmup, int runs);

}  // namespace fusebox::bench::cuda
