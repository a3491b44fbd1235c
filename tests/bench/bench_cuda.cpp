#include "bench/bench_cuda.h"

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <cuda_runtime.h>
#include <torch/torch.h>

#include <algorithm>
#include <stdexcept>
#include <string>

namespace fusebox::bench::cuda {
namespace {

void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess)
    throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(status));
}

c10::DeviceIndex current_device() {
  int device = 0;
  check(cudaGetDevice(&device), "cudaGetDevice");
  return static_cast<c10::DeviceIndex>(device);
}

// Index 0 of the allocator's StatArray is the aggregate over both pools ("all") in every
// torch version; the StatType enum naming it moved between namespaces after 1.13.
constexpr size_t kAggregate = 0;

// Two events reused for every measurement; created on first use (a CUDA context exists then).
struct Events {
  cudaEvent_t start = nullptr, stop = nullptr;
  Events() {
    check(cudaEventCreate(&start), "cudaEventCreate");
    check(cudaEventCreate(&stop), "cudaEventCreate");
  }
};

}  // namespace

std::string device_description() {
  if (!torch::cuda::is_available()) return "";
  cudaDeviceProp prop{};
  check(cudaGetDeviceProperties(&prop, current_device()), "cudaGetDeviceProperties");
  return std::string(prop.name) + " (sm_" + std::to_string(prop.major * 10 + prop.minor) + ", " +
         std::to_string(prop.multiProcessorCount) + " SMs, " +
         std::to_string(static_cast<int>(prop.totalGlobalMem / 1e9 + 0.5)) + " GB)";
}

void flush_l2() {
  // H100 and H200 have 50 MB of L2; 256 MB leaves none of a case's inputs in it. Never
  // freed: a static destructor may run after the CUDA runtime has shut down.
  static auto* scratch = new torch::Tensor(torch::empty(
      {int64_t{256} << 20},
      torch::TensorOptions().dtype(torch::kUInt8).device(torch::kCUDA, current_device())));
  scratch->zero_();
}

double time_ms(const std::function<void()>& run) {
  static Events events;
  cudaStream_t stream = at::cuda::getCurrentCUDAStream().stream();
  check(cudaEventRecord(events.start, stream), "cudaEventRecord");
  run();
  check(cudaEventRecord(events.stop, stream), "cudaEventRecord");
  check(cudaEventSynchronize(events.stop), "cudaEventSynchronize");
  float ms = 0;
  check(cudaEventElapsedTime(&ms, events.start, events.stop), "cudaEventElapsedTime");
  return ms;
}

void synchronize() {
  check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
}

int64_t live_bytes() {
  auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(current_device());
  return stats.allocated_bytes[kAggregate].current;
}

int64_t peak_bytes() {
  auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(current_device());
  return stats.allocated_bytes[kAggregate].peak;
}

void reset_peak() {
  c10::cuda::CUDACachingAllocator::resetPeakStats(current_device());
}

double copy_gbs(double buffer_mb, int warmup, int runs) {
  auto n = static_cast<int64_t>(buffer_mb * 1024 * 1024);
  auto options = torch::TensorOptions().dtype(torch::kUInt8).device(torch::kCUDA, current_device());
  auto src = torch::ones({n}, options);
  auto dst = torch::zeros({n}, options);
  for (int i = 0; i < warmup; ++i)
    dst.copy_(src);
  double best_ms = 1e30;
  for (int i = 0; i < std::max(runs, 1); ++i)
    best_ms = std::min(best_ms, time_ms([&] { dst.copy_(src); }));
  return 2.0 * static_cast<double>(n) / (best_ms * 1e-3) / 1e9;
}

}  // namespace fusebox::bench::cuda
