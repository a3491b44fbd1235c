// fusebox_bench: every kernel against its reference forward, forward and forward+backward,
// with the memory floor measured on this machine in the same run: CPU cases, and in a CUDA
// build the cuda_* cases on the GPU. Prints a table; --json writes everything. See
// docs/BENCHMARKS.md for the method and the latest numbers.
//
//   fusebox_bench                    # full shapes from the issue (a few minutes on 2 cores)
//   fusebox_bench --quick            # under a minute
//   fusebox_bench --filter rope --dtypes fp32,bf16,fp16 --json out.json
//   fusebox_bench --device cuda --dtypes bf16 --json gpu.json   # the GPU cases only
//   fusebox_bench --quick --check    # smoke test: every case ran (nothing timing-related)
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_case.h"
#include "bench/bench_harness.h"
#include "bench/bench_memory.h"
#include "bench/bench_report.h"

namespace fusebox::bench {

std::vector<std::pair<std::string, CaseFactory>>& case_factories() {
  static std::vector<std::pair<std::string, CaseFactory>> factories;
  return factories;
}

namespace {

std::vector<torch::ScalarType> parse_dtypes(const std::string& list) {
  std::vector<torch::ScalarType> out;
  std::stringstream in(list);
  std::string name;
  while (std::getline(in, name, ',')) {
    if (name == "fp32") {
      out.push_back(torch::kFloat32);
    } else if (name == "bf16") {
      out.push_back(torch::kBFloat16);
    } else if (name == "fp16") {
      out.push_back(torch::kHalf);
    } else {
      throw CLI::ValidationError("--dtypes", "expected fp32, bf16 or fp16, but got '" + name + "'");
    }
  }
  return out;
}

// --check: every pass of every case ran (or was skipped by its case) and produced finite,
// positive times.
bool all_measured(const std::vector<CaseResult>& results) {
  bool ok = !results.empty();
  for (const auto& r : results) {
    for (const PassResult* p : {&r.reference.forward, &r.reference.forward_backward,
                                &r.kernel.forward, &r.kernel.forward_backward}) {
      if (p->skipped || (p->ok && std::isfinite(p->median_ms) && p->median_ms > 0)) continue;
      std::cerr << "check failed: " << r.spec.name << " " << r.spec.shape << ": "
                << (p->error.empty() ? "no valid time" : p->error) << "\n";
      ok = false;
    }
  }
  return ok;
}

int run(int argc, char** argv) {
  CLI::App app{"fusebox_bench: fused kernels vs their reference forwards"};
  bool quick = false, check = false;
  std::string json_path, filter, dtypes = "fp32,bf16", malloc_mode = "default", device = "all";
  int threads = static_cast<int>(std::thread::hardware_concurrency());
  MeasureOptions options;
  app.add_flag("--quick", quick, "smaller heavy shapes and fewer runs: under a minute");
  app.add_flag("--check", check, "exit non-zero unless every case ran (no timing assertions)");
  app.add_option("--json", json_path, "write every result to this file");
  app.add_option("--filter", filter, "only cases whose name contains this");
  app.add_option("--device", device, "only the cases of this device: cpu, cuda or all")
      ->check(CLI::IsMember({"cpu", "cuda", "all"}))
      ->capture_default_str();
  app.add_option("--dtypes", dtypes, "comma-separated: fp32,bf16,fp16")->capture_default_str();
  app.add_option("--malloc", malloc_mode,
                 "default | no-mmap (reuse freed heap blocks) | hugepage (MADV_HUGEPAGE >= 4 MB)")
      ->capture_default_str();
  app.add_option("--threads", threads, "intra-op threads (default: all cores)")
      ->capture_default_str();
  auto* runs = app.add_option("--runs", options.runs, "timed runs per pass (median reported)");
  auto* warmup = app.add_option("--warmup", options.warmup, "untimed runs before timing");
  bool warm_cache = false;
  app.add_flag("--warm-cache", warm_cache,
               "do not flush the cache before each run (inputs that fit stay cached)");
  CLI11_PARSE(app, argc, argv);
  options.flush_cache = !warm_cache;
  if (quick) {
    if (runs->count() == 0) options.runs = 3;
    if (warmup->count() == 0) options.warmup = 1;
  }

  install_tracking_allocator(parse_malloc_mode(malloc_mode));
  at::set_num_threads(std::max(threads, 1));
  BenchConfig config{quick, parse_dtypes(dtypes)};
  MachineInfo machine = describe_machine();
  machine.malloc_mode = malloc_mode;

  std::vector<BenchCase> cases;
  bool any_cpu = false, any_cuda = false;
  for (const auto& [group, factory] : case_factories()) {
    for (BenchCase& c : factory(config)) {
      const bool cuda = c.device == c10::DeviceType::CUDA;
      if (!filter.empty() && c.name.find(filter) == std::string::npos) continue;
      if (device != "all" && (device == "cuda") != cuda) continue;
      (cuda ? any_cuda : any_cpu) = true;
      cases.push_back(std::move(c));
    }
  }
  // Each device's floor is measured only when one of its cases runs.
  Bandwidth bw;
  if (any_cpu) bw = measure_bandwidth(quick ? 128 : 512, options);
  if (any_cuda) measure_cuda_bandwidth(&bw, 1024, options);
  std::vector<CaseResult> results;
  for (const BenchCase& c : cases) {
    std::cerr << "measuring " << c.name << " " << c.shape << " " << c10::toString(c.dtype)
              << "...\n";
    results.push_back(measure_case(c, options));
  }
  machine.loadavg_end = read_loadavg();
  print_table(std::cout, machine, bw, options, results);
  if (!json_path.empty()) write_json(json_path, machine, bw, options, results);
  if (check && !all_measured(results)) return 1;
  return 0;
}

}  // namespace
}  // namespace fusebox::bench

int main(int argc, char** argv) {
  try {
    return fusebox::bench::run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
