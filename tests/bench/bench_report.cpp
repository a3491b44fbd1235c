#include "bench/bench_report.h"

#include <ATen/Parallel.h>
#include <torch/version.h>

#include <cstdio>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <thread>

namespace fusebox::bench {
namespace {

std::string first_line(const std::string& path, const std::string& prefix) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) != 0) continue;
    auto colon = line.find(':');
    return colon == std::string::npos ? line
                                      : line.substr(line.find_first_not_of(" \t", colon + 1));
  }
  return "";
}

std::string format(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

const char* dtype_name(torch::ScalarType t) {
  return t == torch::kFloat32    ? "fp32"
         : t == torch::kBFloat16 ? "bf16"
         : t == torch::kHalf     ? "fp16"
                                 : "?";
}

nlohmann::json pass_json(const PassResult& p) {
  nlohmann::json j = {{"ok", p.ok}};
  if (!p.ok) {
    j["error"] = p.error;
    if (p.skipped) j["skipped"] = true;
    return j;
  }
  j["median_ms"] = p.median_ms;
  j["min_ms"] = p.min_ms;
  j["runs_ms"] = p.runs_ms;
  j["peak_added_mb"] = p.peak_added_mb;
  if (p.kept_mb != 0) j["kept_for_backward_mb"] = p.kept_mb;
  j["page_faults_per_run"] = p.page_faults;
  return j;
}

}  // namespace

std::string read_loadavg() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

MachineInfo describe_machine() {
  MachineInfo m;
  m.cpu_model = first_line("/proc/cpuinfo", "model name");
  m.cores = static_cast<int>(std::thread::hardware_concurrency());
  m.threads = at::get_num_threads();
  m.torch_version = TORCH_VERSION;
  char buf[32];
  std::time_t t = std::time(nullptr);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  m.date_utc = buf;
  m.loadavg_start = read_loadavg();
  return m;
}

PassSummary summarize(const CaseResult& r, bool backward, const Bandwidth& bw) {
  const PassResult& ref = backward ? r.reference.forward_backward : r.reference.forward;
  const PassResult& ker = backward ? r.kernel.forward_backward : r.kernel.forward;
  double bytes = backward ? r.spec.forward_backward_bytes : r.spec.forward_bytes;
  double flops = backward ? r.spec.forward_backward_flops : r.spec.forward_flops;
  PassSummary s;
  if (ref.ok && ker.ok) s.speedup = ref.median_ms / ker.median_ms;
  const double floor_gbs = bw.floor_gbs(r.spec.device);
  if (bytes > 0 && floor_gbs > 0) s.floor_ms = bytes / (floor_gbs * 1e9) * 1e3;
  if (ker.ok) {
    s.kernel_gbs = bytes / (ker.median_ms * 1e-3) / 1e9;
    s.of_floor = s.floor_ms / ker.median_ms;
    s.kernel_gflops = flops / (ker.median_ms * 1e-3) / 1e9;
  }
  return s;
}

void print_table(std::ostream& out, const MachineInfo& m, const Bandwidth& bw,
                 const MeasureOptions& options, const std::vector<CaseResult>& results) {
  out << "machine: " << m.cpu_model << ", " << m.cores << " cores, " << m.threads
      << " threads, libtorch " << m.torch_version << ", malloc " << m.malloc_mode << ", "
      << m.date_utc << "\n"
      << "load average at start: " << m.loadavg_start << " (other processes compete when > 0)\n"
      << options.warmup << " warm-up + " << options.runs << " timed runs per pass, cache "
      << (options.flush_cache ? "flushed" : "not flushed") << " before each\n"
      << format("copy bandwidth (%.0f MB, read+write, fastest run): ", bw.buffer_mb)
      << format("%.1f GB/s into a warm buffer, ", bw.copy_gbs)
      << format("%.1f GB/s into a fresh allocation\n", bw.fresh_copy_gbs);
  if (!bw.gpu.empty()) {
    out << "gpu: " << bw.gpu << ", device-to-device copy (" << format("%.0f MB", bw.cuda_buffer_mb)
        << ", read+write, fastest run): " << format("%.1f GB/s", bw.cuda_copy_gbs)
        << "; cuda_* cases: CUDA-event times, L2 flushed before each run, floor% against this "
           "copy, memory from the CUDA caching allocator\n";
  }
  out << "\n";
  char line[400];
  std::snprintf(line, sizeof line, "%-26s %-4s %-7s %8s %8s %7s %7s %6s %6s %7s %11s %11s\n",
                "case", "type", "pass", "ref ms", "kern ms", "speedup", "MB", "GB/s", "floor%",
                "faults", "peak MB r/k", "kept MB r/k");
  out << line;
  std::vector<std::string> skipped;
  for (const auto& r : results) {
    for (bool backward : {false, true}) {
      const PassResult& ref = backward ? r.reference.forward_backward : r.reference.forward;
      const PassResult& ker = backward ? r.kernel.forward_backward : r.kernel.forward;
      std::string name = r.spec.name + " " + r.spec.shape;
      const char* pass = backward ? "fwd+bwd" : "fwd";
      if (!ker.ok || (!ref.ok && !ref.skipped)) {
        out << name << " " << dtype_name(r.spec.dtype) << " " << pass << ": not measured ("
            << (ref.ok || ref.skipped ? "kernel: " + ker.error : "reference: " + ref.error)
            << ")\n";
        continue;
      }
      // A case that skips its reference (BenchCase::reference_skipped) still shows the
      // kernel's row, with the reference's columns as "-".
      if (ref.skipped && !backward)
        skipped.push_back(name + " " + dtype_name(r.spec.dtype) + ": " + ref.error);
      PassSummary s = summarize(r, backward, bw);
      double bytes = backward ? r.spec.forward_backward_bytes : r.spec.forward_bytes;
      // Compute-bound cases show GFLOP/s where the others show their share of the floor.
      std::string rate = r.spec.forward_flops > 0 ? format("%.0fGF/s", s.kernel_gflops)
                                                  : format("%.0f%%", 100 * s.of_floor);
      auto ref_mb = [&](double mb) { return ref.ok ? format("%.0f", mb) : std::string("-"); };
      std::string peak = ref_mb(ref.peak_added_mb) + "/" + format("%.0f", ker.peak_added_mb);
      std::string kept = backward ? ref_mb(ref.kept_mb) + "/" + format("%.0f", ker.kept_mb) : "";
      std::string ref_ms = ref.ok ? format("%.2f", ref.median_ms) : "-";
      std::string speedup = ref.ok ? format("%.2fx", s.speedup) : "-";
      std::snprintf(line, sizeof line,
                    "%-26s %-4s %-7s %8s %8.2f %7s %7.1f %6.1f %6s %7.0f %11s %11s\n", name.c_str(),
                    dtype_name(r.spec.dtype), pass, ref_ms.c_str(), ker.median_ms, speedup.c_str(),
                    bytes / 1e6, s.kernel_gbs, rate.c_str(), ker.page_faults, peak.c_str(),
                    kept.c_str());
      out << line;
    }
  }
  for (const auto& line : skipped)
    out << "reference not measured: " << line << "\n";
  out << "\nms: median of the timed runs after warm-up. MB: the memory floor's bytes (each input "
         "read once, each output written once); GB/s: MB / kernel time; floor%: floor time (MB / "
         "warm copy bandwidth) / kernel time, 100% = at the floor. faults: the kernel's minor page "
         "faults per run. peak: tensor memory added by the pass, reference/kernel; kept: live "
         "after the training forward (outputs + saved for backward).\n"
      << "load average at end: " << m.loadavg_end << "\n";
}

void write_json(const std::string& path, const MachineInfo& m, const Bandwidth& bw,
                const MeasureOptions& options, const std::vector<CaseResult>& results) {
  nlohmann::json doc;
  doc["machine"] = {{"cpu_model", m.cpu_model},     {"cores", m.cores},
                    {"threads", m.threads},         {"torch_version", m.torch_version},
                    {"date_utc", m.date_utc},       {"loadavg_start", m.loadavg_start},
                    {"loadavg_end", m.loadavg_end}, {"malloc", m.malloc_mode}};
  doc["bandwidth"] = {{"buffer_mb", bw.buffer_mb},
                      {"copy_gbs", bw.copy_gbs},
                      {"fresh_copy_gbs", bw.fresh_copy_gbs}};
  if (!bw.gpu.empty()) {
    doc["gpu"] = {{"device", bw.gpu},
                  {"copy_buffer_mb", bw.cuda_buffer_mb},
                  {"device_copy_gbs", bw.cuda_copy_gbs}};
  }
  doc["options"] = {
      {"warmup", options.warmup}, {"runs", options.runs}, {"flush_cache", options.flush_cache}};
  doc["cases"] = nlohmann::json::array();
  for (const auto& r : results) {
    nlohmann::json c = {{"name", r.spec.name},
                        {"layer", r.spec.layer},
                        {"kernel_id", r.spec.kernel_id},
                        {"shape", r.spec.shape},
                        {"dtype", dtype_name(r.spec.dtype)},
                        {"device", r.spec.device == c10::DeviceType::CUDA ? "cuda" : "cpu"},
                        {"heavy", r.spec.heavy}};
    for (bool backward : {false, true}) {
      const char* key = backward ? "forward_backward" : "forward";
      PassSummary s = summarize(r, backward, bw);
      c[key] = {
          {"bytes", backward ? r.spec.forward_backward_bytes : r.spec.forward_bytes},
          {"flops", backward ? r.spec.forward_backward_flops : r.spec.forward_flops},
          {"reference", pass_json(backward ? r.reference.forward_backward : r.reference.forward)},
          {"kernel", pass_json(backward ? r.kernel.forward_backward : r.kernel.forward)},
          {"speedup", s.speedup},
          {"floor_ms", s.floor_ms},
          {"kernel_gbs", s.kernel_gbs},
          {"of_floor", s.of_floor},
          {"kernel_gflops", s.kernel_gflops}};
    }
    doc["cases"].push_back(c);
  }
  std::ofstream out(path);
  if (!out) throw std::runtime_error("cannot write " + path);
  out << doc.dump(2) << "\n";
}

}  // namespace fusebox::bench
