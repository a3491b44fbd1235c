#include "train/progress.h"

#include <cstdio>

#include "util/log.h"
#include "util/strings.h"

namespace fusebox::train {

void Progress::report(int64_t step, double loss, double lr, double grad_norm,
                      double tokens_per_second, double elapsed) const {
  double eta =
      step > 0 ? elapsed / static_cast<double>(step) * static_cast<double>(total_steps_ - step) : 0;
  char line[256];
  std::snprintf(line, sizeof line,
                "step %lld/%lld (%3.0f%%) | loss %.4f | lr %.3e | grad norm %.3f | %.0f tokens/s | "
                "elapsed %s | eta %s",
                static_cast<long long>(step), static_cast<long long>(total_steps_),
                100.0 * static_cast<double>(step) / static_cast<double>(total_steps_), loss, lr,
                grad_norm, tokens_per_second, format_duration(elapsed).c_str(),
                format_duration(eta).c_str());
  log::info(line);
}

}  // namespace fusebox::train
