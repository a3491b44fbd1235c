// Learning-rate schedules: linear warmup, then cosine / linear decay to 0, or constant.
#pragma once

#include <cstdint>
#include <string>

namespace fusebox::train {

// lr at optimizer step `step` (0-based) of `total_steps`, as transformers'
// get_{cosine,linear,constant}_schedule_with_warmup compute it.
double lr_at(const std::string& scheduler, double base_lr, int64_t step, int64_t warmup_steps,
             int64_t total_steps);

}  // namespace fusebox::train
