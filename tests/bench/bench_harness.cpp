#include "bench/bench_harness.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <functional>

#include "bench/bench_memory.h"
#ifdef FUSEBOX_WITH_CUDA
#include "bench/bench_cuda.h"
#endif

namespace fusebox::bench {
namespace {

constexpr double kMB = 1024.0 * 1024.0;

double now_ms() {
  using Clock = std::chrono::steady_clock;
  return std::chrono::duration<double, std::milli>(Clock::now().time_since_epoch()).count();
}

int64_t minor_faults() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// 64 MB: twice the 32 MB L3 of the machine in docs/BENCHMARKS.md, and more than most.
void flush_cache() {
  static torch::Tensor scratch = torch::empty({int64_t{16} << 20}, torch::kFloat32);
  static float value = 0;
  scratch.fill_(value += 1);
}

// Times `run` (warm-up first), then runs it once more with the peak counter reset.
PassResult time_pass(const std::function<void()>& run, const MeasureOptions& o) {
  PassResult r;
  try {
    for (int i = 0; i < o.warmup; ++i) {
      run();
    }
    int64_t faults = 0;
    for (int i = 0; i < std::max(o.runs, 1); ++i) {
      if (o.flush_cache) flush_cache();
      int64_t faults_before = minor_faults();
      double t0 = now_ms();
      run();
      r.runs_ms.push_back(now_ms() - t0);
      faults += minor_faults() - faults_before;
    }
    r.page_faults = static_cast<double>(faults) / r.runs_ms.size();
    r.median_ms = median(r.runs_ms);
    r.min_ms = *std::min_element(r.runs_ms.begin(), r.runs_ms.end());
    if (o.flush_cache) flush_cache();
    int64_t base = live_tensor_bytes();
    reset_peak_tensor_bytes();
    run();
    r.peak_added_mb = static_cast<double>(peak_tensor_bytes() - base) / kMB;
    r.ok = true;
  } catch (const std::exception& e) {
    r.error = e.what();
    r.error = r.error.substr(0, r.error.find('\n'));  // c10 errors append a backtrace
  }
  return r;
}

#ifdef FUSEBOX_WITH_CUDA
// time_pass for a CUDA case: CUDA events instead of the wall clock, the L2 flushed instead of
// the CPU cache, the caching allocator's bytes instead of the CPU allocator's (bench_cuda.h).
PassResult time_cuda_pass(const std::function<void()>& run, const MeasureOptions& o) {
  PassResult r;
  try {
    for (int i = 0; i < o.warmup; ++i) {
      run();
    }
    for (int i = 0; i < std::max(o.runs, 1); ++i) {
      if (o.flush_cache) cuda::flush_l2();
      r.runs_ms.push_back(cuda::time_ms(run));
    }
    r.median_ms = median(r.runs_ms);
    r.min_ms = *std::min_element(r.runs_ms.begin(), r.runs_ms.end());
    cuda::synchronize();
    int64_t base = cuda::live_bytes();
    cuda::reset_peak();
    run();
    cuda::synchronize();
    r.peak_added_mb = static_cast<double>(cuda::peak_bytes() - base) / kMB;
    r.ok = true;
  } catch (const std::exception& e) {
    r.error = e.what();
    r.error = r.error.substr(0, r.error.find('\n'));
  }
  return r;
}
#endif

// The bytes and the timing method of a case's device.
struct Meter {
  PassResult (*time)(const std::function<void()>&, const MeasureOptions&) = &time_pass;
  int64_t (*live_bytes)() = &live_tensor_bytes;
};

Meter meter_for(const BenchCase& c) {
  Meter m;
  if (c.device == c10::DeviceType::CUDA) {
#ifdef FUSEBOX_WITH_CUDA
    m.time = &time_cuda_pass;
    m.live_bytes = &cuda::live_bytes;
#else
    throw std::runtime_error("this build has no CUDA (FUSEBOX_CUDA)");
#endif
  }
  return m;
}

SideResult measure_side(const BenchCase& c, bool use_kernel, const MeasureOptions& o) {
  SideResult side;
  Runner runner;
  Meter meter;
  try {
    meter = meter_for(c);
    runner = c.make(use_kernel);
  } catch (const std::exception& e) {
    side.forward.error = side.forward_backward.error = e.what();
    return side;
  }
  side.forward = meter.time(runner.forward, o);
  side.forward_backward = meter.time(
      [&] {
        auto backward = runner.train_forward();
        backward();
      },
      o);
  if (side.forward_backward.ok) {
    // What a training forward keeps alive until its backward: outputs and saved tensors.
    int64_t base = meter.live_bytes();
    auto backward = runner.train_forward();
    side.forward_backward.kept_mb = static_cast<double>(meter.live_bytes() - base) / kMB;
    backward();
  }
  return side;
}

}  // namespace

CaseResult measure_case(const BenchCase& c, const MeasureOptions& options) {
  MeasureOptions o = options;
  if (c.heavy) o = {std::min(o.warmup, 1), std::min(o.runs, 3)};
  CaseResult result;
  result.spec = c;
  result.spec.make = nullptr;
  if (c.reference_skipped.empty()) {
    result.reference = measure_side(c, /*use_kernel=*/false, o);
  } else {
    for (PassResult* p : {&result.reference.forward, &result.reference.forward_backward}) {
      p->skipped = true;
      p->error = c.reference_skipped;
    }
  }
  result.kernel = measure_side(c, /*use_kernel=*/true, o);
  return result;
}

Bandwidth measure_bandwidth(double buffer_mb, const MeasureOptions& options) {
  Bandwidth bw;
  bw.buffer_mb = buffer_mb;
  MeasureOptions o = options;
  o.flush_cache = false;  // the buffers are far larger than any cache
  auto n = static_cast<int64_t>(buffer_mb * kMB / sizeof(float));
  auto src = torch::ones({n});
  auto dst = torch::zeros({n});  // touched, so the timed copies see no page faults
  double bytes = 2.0 * static_cast<double>(n) * sizeof(float);  // read src + write dst
  auto warm = time_pass([&] { dst.copy_(src); }, o);
  auto fresh = time_pass([&] { src.clone(); }, o);
  // The fastest run: the floor is what the machine can do, so a slow run (another process on
  // the host) must not make kernels look closer to it than they are.
  bw.copy_gbs = warm.ok ? bytes / (warm.min_ms * 1e-3) / 1e9 : 0;
  bw.fresh_copy_gbs = fresh.ok ? bytes / (fresh.min_ms * 1e-3) / 1e9 : 0;
  return bw;
}

void measure_cuda_bandwidth(Bandwidth* bw, double buffer_mb, const MeasureOptions& options) {
#ifdef FUSEBOX_WITH_CUDA
  bw->gpu = cuda::device_description();
  if (bw->gpu.empty()) return;
  bw->cuda_buffer_mb = buffer_mb;
  bw->cuda_copy_gbs = cuda::copy_gbs(buffer_mb, std::max(options.warmup, 1), options.runs);
#else
  (void)bw, (void)buffer_mb, (void)options;
#endif
}

}  // namespace fusebox::bench
