// Progress during training. Every logging step writes a plain log line (step, loss, learning
// rate, grad norm, tokens/s, elapsed, ETA) through the logging facade, so it goes wherever
// the logs go. On a terminal, a one-line bar under the log is also redrawn in place every
// step (at most ~10 times a second); the facade keeps log lines from landing on it.
#pragma once

#include <cstdint>
#include <string>

#include "util/timer.h"

namespace fusebox::train {

// progress_bar: "true", "false", or "auto" (when stderr is a terminal).
bool progress_bar_enabled(const std::string& setting);

struct ProgressValues {
  int64_t step = 0;
  double loss = 0;
  double learning_rate = 0;
  double grad_norm = -1;  // < 0: not computed
  double tokens_per_second = 0;
  double elapsed_seconds = 0;  // over all sessions of the run
};

// "step 120/2000 [====>      ]   6% | loss 1.2345 | lr 2.90e-03 | 25.1k tok/s | eta 1m02s",
// cut to `width` columns. eta_seconds < 0 prints "?".
std::string format_progress_bar(int64_t step, int64_t total_steps, double loss, double lr,
                                double tokens_per_second, double eta_seconds, int width);

class Progress {
 public:
  // `first_step`: the step this session starts from (not 0 for a resumed run), so the ETA
  // comes from this session's pace.
  Progress(int64_t total_steps, int64_t first_step, bool bar);
  ~Progress();  // erases the bar

  // The log line of a logging step.
  void report(const ProgressValues& v) const;
  // Every step: redraws the bar; nothing without one.
  void update(const ProgressValues& v);
  // Erases the bar (before the last log lines of a run).
  void finish();

  double eta_seconds(int64_t step) const;

 private:
  int64_t total_steps_;
  int64_t first_step_;
  bool bar_;
  Stopwatch session_;
  double last_draw_ = -1;
};

}  // namespace fusebox::train
