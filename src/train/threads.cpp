#include "train/threads.h"

#include <ATen/Parallel.h>

#include <thread>

namespace fusebox::train {

int configure_threads(int64_t requested) {
  int n = requested > 0 ? static_cast<int>(requested)
                        : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(n);
  return at::get_num_threads();
}

}  // namespace fusebox::train
