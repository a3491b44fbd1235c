// Torch-side glue shared by the CUDA kernels' wrappers (ops/**/cuda_*.cpp, built only with a
// CUDA libtorch): the launcher dtype of a tensor and the stream to launch on.
#pragma once

#include <ATen/cuda/CUDAContext.h>
#include <torch/torch.h>

#include <optional>

#include "ops/common/cuda_common.cuh"

namespace fusebox::ops {

// The kernels' storage dtype for a tensor dtype; nullopt for dtypes they do not handle.
inline std::optional<cuda::DType> launch_dtype(torch::ScalarType dtype) {
  switch (dtype) {
    case torch::kFloat32:
      return cuda::DType::kFloat32;
    case torch::kBFloat16:
      return cuda::DType::kBFloat16;
    case torch::kHalf:
      return cuda::DType::kFloat16;
    default:
      return std::nullopt;
  }
}

// torch's current stream of the current device: kernels run in order with the ops around
// them, with no synchronisation. Call under a CUDAGuard for the tensors' device.
inline cudaStream_t launch_stream() {
  return at::cuda::getCurrentCUDAStream().stream();
}

}  // namespace fusebox::ops
