// For the CUDA tests (tests/cuda/, built only with a CUDA libtorch): skip without a GPU, and
// move test data to it.
#pragma once

#include <gtest/gtest.h>
#include <torch/torch.h>

// Ends the test as skipped -- reported by ctest as "Not Run (Skipped)", never as passed --
// when libtorch sees no GPU.
#define FUSEBOX_REQUIRE_CUDA()                                                          \
  do {                                                                                  \
    if (!torch::cuda::is_available()) {                                                 \
      GTEST_SKIP() << "no CUDA device visible (torch::cuda::is_available() is false): " \
                   << "the CUDA kernels cannot run here";                               \
    }                                                                                   \
  } while (0)

namespace fusebox::test {

inline torch::Device cuda0() {
  return torch::Device(torch::kCUDA, 0);
}

}  // namespace fusebox::test
