// Presenting benchmark results: a table on stdout and everything as JSON.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "bench/bench_harness.h"

namespace fusebox::bench {

struct MachineInfo {
  std::string cpu_model;  // /proc/cpuinfo "model name"
  int cores = 0;          // std::thread::hardware_concurrency()
  int threads = 0;        // at::get_num_threads() during the run
  std::string torch_version;
  std::string date_utc;       // ISO 8601
  std::string loadavg_start;  // /proc/loadavg: other processes competing for the cores
  std::string loadavg_end;
  std::string malloc_mode;  // bench_memory.h: how tensor memory was obtained
};

MachineInfo describe_machine();
std::string read_loadavg();

// Derived numbers for one pass of one case, shared by the table and the JSON.
struct PassSummary {
  double speedup = 0;        // reference median / kernel median
  double floor_ms = 0;       // bytes / copy bandwidth
  double kernel_gbs = 0;     // bytes / kernel median
  double of_floor = 0;       // floor_ms / kernel median: 1 = at the memory floor
  double kernel_gflops = 0;  // compute-bound cases only
};

PassSummary summarize(const CaseResult& r, bool backward, const Bandwidth& bw);

void print_table(std::ostream& out, const MachineInfo& machine, const Bandwidth& bw,
                 const MeasureOptions& options, const std::vector<CaseResult>& results);

void write_json(const std::string& path, const MachineInfo& machine, const Bandwidth& bw,
                const MeasureOptions& options, const std::vector<CaseResult>& results);

}  // namespace fusebox::bench
