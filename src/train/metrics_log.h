// output_dir/metrics.jsonl: one JSON object per line, one line per logging step and per
// evaluation, appended and flushed as the run goes so that `tail -f` and a crash both see
// every finished line. The same records make the trainer state's log history, which is
// what a resumed run and loss_curve.svg are built from.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "train/evaluator.h"
#include "train/loss_curve_svg.h"

namespace fusebox::train {

inline constexpr const char* kMetricsFileName = "metrics.jsonl";

// Keys in a fixed order: "step" first, then "epoch", then the values.
using MetricsRecord = nlohmann::ordered_json;

// What a logging step reports; the loss is the mean over the steps since the last log.
struct TrainLogValues {
  int64_t step = 0;
  double epoch = 0;
  double loss = 0;
  double learning_rate = 0;
  double grad_norm = -1;  // < 0: not computed (clipping disabled)
  double tokens_per_second = 0;
  int64_t tokens_seen = 0;
  double elapsed_seconds = 0;  // training time over all sessions of the run
};

// A train line, with the process's memory (RSS now and peak) and, on CUDA, the caching
// allocator's current and peak bytes.
MetricsRecord train_record(const TrainLogValues& values, const torch::Device& device);
// An eval line: eval_loss, eval_perplexity, eval_examples and eval_exact_match when the
// task has one.
MetricsRecord eval_record(int64_t step, double epoch, const EvalResult& result,
                          double elapsed_seconds);

// The train loss line and the eval points of a log history, for loss_curve.svg.
LossCurve loss_curve_of(const std::vector<MetricsRecord>& history, const std::string& title);

class MetricsLog {
 public:
  // A new file (an earlier one is replaced: the caller has checked output_dir).
  static MetricsLog start_fresh(const std::string& output_dir);
  // Continues the file of a run resumed at `step`: lines of later steps (written after the
  // checkpoint, by the run that was interrupted) are dropped in an atomic rewrite. Without a
  // file (resuming into another output_dir) it starts from `history`, the checkpoint's log.
  static MetricsLog resume(const std::string& output_dir, int64_t step,
                           const std::vector<MetricsRecord>& history);

  void append(const MetricsRecord& record);
  const std::string& path() const { return path_; }

 private:
  explicit MetricsLog(std::string path);
  std::string path_;
  std::ofstream out_;
};

}  // namespace fusebox::train
