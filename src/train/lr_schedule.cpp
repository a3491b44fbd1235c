#include "train/lr_schedule.h"

#include <algorithm>
#include <cmath>

#include "util/error.h"
#include "util/strings.h"

namespace fusebox::train {

double lr_at(const std::string& scheduler, double base_lr, int64_t step, int64_t warmup_steps,
             int64_t total_steps) {
  if (step < warmup_steps)
    return base_lr * static_cast<double>(step) /
           static_cast<double>(std::max<int64_t>(1, warmup_steps));
  if (scheduler == "constant") return base_lr;
  double progress = static_cast<double>(step - warmup_steps) /
                    static_cast<double>(std::max<int64_t>(1, total_steps - warmup_steps));
  progress = std::clamp(progress, 0.0, 1.0);
  if (scheduler == "linear") return base_lr * (1.0 - progress);
  if (scheduler == "cosine") return base_lr * 0.5 * (1.0 + std::cos(M_PI * progress));
  throw ConfigError(
      str("lr_scheduler_type '", scheduler, "' is not one of cosine, linear, constant"));
}

}  // namespace fusebox::train
