// Progress lines during training: step, loss, learning rate, grad norm, tokens/s, elapsed and
// ETA. Through the logging facade, so they go wherever the logs go.
#pragma once

#include <cstdint>

namespace fusebox::train {

class Progress {
 public:
  explicit Progress(int64_t total_steps) : total_steps_(total_steps) {}

  void report(int64_t step, double loss, double lr, double grad_norm, double tokens_per_second,
              double elapsed_seconds) const;

 private:
  int64_t total_steps_;
};

}  // namespace fusebox::train
