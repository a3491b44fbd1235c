#include "train/metrics_log.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <sstream>

#include "io/checkpoint_fs.h"
#include "util/error.h"
#include "util/log.h"
#include "util/memory.h"
#include "util/strings.h"

#ifdef FUSEBOX_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace fusebox::train {
namespace fs = std::filesystem;
namespace {

void add_device_memory(MetricsRecord& r, const torch::Device& device) {
#ifdef FUSEBOX_WITH_CUDA
  if (device.is_cuda()) {
    // Index 0 of the stat arrays is the aggregate over small and large pools in 1.13 and 2.x.
    auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index());
    r["cuda_memory_allocated_bytes"] = stats.allocated_bytes[0].current;
    r["cuda_memory_peak_allocated_bytes"] = stats.allocated_bytes[0].peak;
  }
#else
  (void)r;
  (void)device;
#endif
}

int64_t step_of(const MetricsRecord& r) {
  auto it = r.find("step");
  return it != r.end() && it->is_number_integer() ? it->get<int64_t>() : -1;
}

}  // namespace

MetricsRecord train_record(const TrainLogValues& v, const torch::Device& device) {
  MetricsRecord r;
  r["step"] = v.step;
  r["epoch"] = v.epoch;
  r["loss"] = v.loss;
  r["learning_rate"] = v.learning_rate;
  if (v.grad_norm >= 0) r["grad_norm"] = v.grad_norm;
  r["tokens_per_second"] = v.tokens_per_second;
  r["tokens_seen"] = v.tokens_seen;
  r["elapsed_seconds"] = v.elapsed_seconds;
  r["memory_rss_bytes"] = current_rss_bytes();
  r["memory_peak_rss_bytes"] = peak_rss_bytes();
  add_device_memory(r, device);
  return r;
}

MetricsRecord eval_record(int64_t step, double epoch, const EvalResult& result,
                          double elapsed_seconds) {
  MetricsRecord r;
  r["step"] = step;
  r["epoch"] = epoch;
  r["eval_loss"] = result.loss;
  r["eval_perplexity"] = result.perplexity;
  if (result.exact_match) r["eval_exact_match"] = *result.exact_match;
  r["eval_examples"] = result.examples;
  r["elapsed_seconds"] = elapsed_seconds;
  return r;
}

LossCurve loss_curve_of(const std::vector<MetricsRecord>& history, const std::string& title) {
  LossCurve curve;
  curve.title = title;
  for (const auto& r : history) {
    int64_t step = step_of(r);
    if (r.contains("loss") && r["loss"].is_number())
      curve.train.push_back({step, r["loss"].get<double>()});
    if (r.contains("eval_loss") && r["eval_loss"].is_number())
      curve.eval.push_back({step, r["eval_loss"].get<double>()});
  }
  return curve;
}

MetricsLog::MetricsLog(std::string path) : path_(std::move(path)) {
  out_.open(path_, std::ios::app);
  if (!out_) throw DataError(str("cannot open '", path_, "' for writing: ", std::strerror(errno)));
}

MetricsLog MetricsLog::start_fresh(const std::string& output_dir) {
  std::string path = (fs::path(output_dir) / kMetricsFileName).string();
  io::write_file_durably(path, "");
  return MetricsLog(path);
}

MetricsLog MetricsLog::resume(const std::string& output_dir, int64_t step,
                              const std::vector<MetricsRecord>& history) {
  std::string path = (fs::path(output_dir) / kMetricsFileName).string();
  std::ostringstream kept;
  std::error_code ec;
  if (fs::exists(path, ec)) {
    std::ifstream in(path);
    std::string line;
    int64_t dropped = 0, line_number = 0;
    while (std::getline(in, line)) {
      ++line_number;
      if (trim(line).empty()) continue;
      // A torn last line (the interrupted run died mid-write) is not JSON: dropped with the rest.
      auto r = MetricsRecord::parse(line, nullptr, /*allow_exceptions=*/false);
      if (r.is_discarded() || step_of(r) < 0) {
        log::warn(path, ":", line_number, ": not a metrics record; dropped");
        continue;
      }
      if (step_of(r) > step) {
        ++dropped;
        continue;
      }
      kept << line << "\n";
    }
    if (dropped > 0)
      log::info(path, ": dropped ", dropped, " lines after step ", step, " (the resumed step)");
  } else {
    for (const auto& r : history)
      kept << r.dump() << "\n";
  }
  std::string temporary = str(path, ".tmp-", ::getpid());
  io::write_file_durably(temporary, kept.str());
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    throw DataError(str("cannot rename '", temporary, "' to '", path, "': ", std::strerror(errno)));
  }
  return MetricsLog(path);
}

void MetricsLog::append(const MetricsRecord& record) {
  out_ << record.dump() << "\n";
  out_.flush();
  if (!out_) throw DataError(str("cannot write to '", path_, "': ", std::strerror(errno)));
}

}  // namespace fusebox::train
