// Every-element comparison with a useful failure message: how many elements failed, the
// worst one (index, both values) and the tolerance used.
#pragma once

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>

#include "support/tolerances.h"

namespace fusebox::test {

inline ::testing::AssertionResult all_close(const torch::Tensor& actual,
                                            const torch::Tensor& expected, Tolerance tol,
                                            const std::string& what) {
  if (actual.sizes() != expected.sizes()) {
    return ::testing::AssertionFailure()
           << what << ": shape " << actual.sizes() << " vs expected " << expected.sizes();
  }
  auto a = actual.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  auto e = expected.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  auto diff = (a - e).abs();
  auto limit = tol.atol + tol.rtol * e.abs();
  // NaN in either fails: NaN comparisons are false, so use the negation of <=.
  auto bad = diff.le(limit).logical_not();
  int64_t n_bad = bad.sum().item<int64_t>();
  if (n_bad == 0) return ::testing::AssertionSuccess();
  auto excess = (diff - limit).masked_fill(diff.isnan(), 1e300).flatten();
  int64_t worst = excess.argmax().item<int64_t>();
  return ::testing::AssertionFailure()
         << what << ": " << n_bad << " of " << a.numel() << " elements out of tolerance (atol "
         << tol.atol << ", rtol " << tol.rtol << "); worst at flat index " << worst << ": got "
         << a.flatten()[worst].item<double>() << ", expected " << e.flatten()[worst].item<double>();
}

}  // namespace fusebox::test
