// What a benchmark case is, and how a case file registers itself.
//
// A case is one layer kind at one shape and dtype, measured twice: the reference forward and
// the fused kernel. Adding a case (a MoE block, a linear cross-entropy) is one file under
// tests/bench/cases/ that ends with FUSEBOX_BENCH_CASES; CMake globs that folder.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace fusebox::bench {

struct BenchConfig {
  bool quick = false;                     // smaller shapes where a full one takes seconds
  std::vector<torch::ScalarType> dtypes;  // the dtypes to build cases for
};

// One side of a case (reference or kernel), built once with its inputs. Each closure leaves
// nothing behind: what it allocates is freed when it returns (gradients included).
struct Runner {
  // One forward without autograd (inference).
  std::function<void()> forward;
  // One training forward (autograd on). Returns the closure that runs the backward; the
  // graph and everything it saved stay alive until that closure is destroyed, which lets the
  // harness measure what a training forward keeps for the backward.
  std::function<std::function<void()>()> train_forward;
};

struct BenchCase {
  std::string name;  // "rmsnorm", "swiglu_act", "cuda_rope", ...
  // Where the case runs. CUDA cases (cases/bench_cuda_*.cpp, built only with a CUDA libtorch)
  // are timed with CUDA events on the current stream, with the L2 cache flushed before each
  // run, and measured against the GPU's device-to-device copy bandwidth; their memory is the
  // CUDA caching allocator's. Runner closures must leave all their work on that stream.
  c10::DeviceType device = c10::DeviceType::CPU;
  std::string layer;      // the layer kind: "RMSNorm", "MLP", "RoPE"
  std::string kernel_id;  // the registered kernel measured against the reference
  std::string shape;      // human-readable: "4096x1024"
  torch::ScalarType dtype = torch::kFloat32;
  // The memory floor of one pass: every input read once and every output written once.
  // forward_backward_bytes = forward_bytes + the backward's own floor (grad outputs and the
  // forward inputs it needs read once, the input grads written once).
  double forward_bytes = 0;
  double forward_backward_bytes = 0;
  // Floating-point operations per pass for compute-bound cases (GEMMs); 0 = memory-bound.
  double forward_flops = 0;
  double forward_backward_flops = 0;
  // Heavy cases (seconds per run) are timed with fewer repetitions.
  bool heavy = false;
  // Non-empty: the reference is not run for this case, and why (it would not fit in memory or
  // time); the kernel is measured alone.
  std::string reference_skipped;
  std::function<Runner(bool use_kernel)> make;
};

using CaseFactory = std::vector<BenchCase> (*)(const BenchConfig&);

// Registered factories, in link order; each builds its cases for a configuration.
std::vector<std::pair<std::string, CaseFactory>>& case_factories();

inline bool register_cases(const char* group, CaseFactory factory) {
  case_factories().emplace_back(group, factory);
  return true;
}

inline double bytes_of(torch::ScalarType dtype, double elements) {
  return elements * static_cast<double>(c10::elementSize(dtype));
}

}  // namespace fusebox::bench

#define FUSEBOX_BENCH_CASES(group, factory)                             \
  [[maybe_unused]] static const bool fusebox_bench_registered_##group = \
      ::fusebox::bench::register_cases(#group, factory)
