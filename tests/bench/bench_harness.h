// Measuring a case: median wall time over repeated runs after warm-up, peak tensor memory
// added, and the machine's copy bandwidth that the memory floors are measured against.
#pragma once

#include <string>
#include <vector>

#include "bench/bench_case.h"

namespace fusebox::bench {

struct MeasureOptions {
  int warmup = 2;
  int runs = 10;
  // Overwrite a buffer twice the size of the last-level cache before every run, so that each
  // run reads its inputs from memory as the floor assumes (in a training step the other
  // layers' activations evict them too). Off: inputs that fit the cache stay there between
  // runs and a pass can beat the DRAM floor.
  bool flush_cache = true;
};

struct PassResult {
  bool ok = false;
  std::string error;     // why the pass could not run (e.g. a dtype the reference lacks)
  bool skipped = false;  // not run on purpose (BenchCase::reference_skipped); error says why
  double median_ms = 0;  // median wall time of `runs` runs
  double min_ms = 0;
  std::vector<double> runs_ms;
  double peak_added_mb = 0;  // high-water tensor bytes above what was live before the pass
  double kept_mb = 0;        // training forward only: live after the forward (outputs + saved)
  double page_faults = 0;    // minor page faults per timed run (first touch of fresh memory)
};

struct SideResult {
  PassResult forward;           // inference forward
  PassResult forward_backward;  // training forward + backward
};

struct CaseResult {
  BenchCase spec;  // `make` is cleared: results outlive the inputs
  SideResult reference, kernel;
};

CaseResult measure_case(const BenchCase& c, const MeasureOptions& options);

struct Bandwidth {
  double buffer_mb = 0;
  // dst.copy_(src) into a warm buffer, read + write counted, fastest of the runs: the floor's
  // bandwidth.
  double copy_gbs = 0;
  // src.clone(): the same copy into a fresh allocation, page faults included, as every
  // kernel's freshly allocated outputs pay them (glibc mmaps blocks above 32 MB).
  double fresh_copy_gbs = 0;
  // The GPU (CUDA cases): dst.copy_(src) device to device into a warm buffer, read + write
  // counted, fastest run, timed with CUDA events -- the floor of the CUDA cases.
  std::string gpu;  // empty: not measured
  double cuda_buffer_mb = 0;
  double cuda_copy_gbs = 0;

  // The copy bandwidth a case's floor is measured against.
  double floor_gbs(c10::DeviceType device) const {
    return device == c10::DeviceType::CUDA ? cuda_copy_gbs : copy_gbs;
  }
};

Bandwidth measure_bandwidth(double buffer_mb, const MeasureOptions& options);
// Fills the GPU fields of *bw (nothing without a CUDA build or a visible GPU).
void measure_cuda_bandwidth(Bandwidth* bw, double buffer_mb, const MeasureOptions& options);

}  // namespace fusebox::bench
