// The device a test selects kernels for. KernelizeOptions' default device is detect_device():
// on a GPU machine that is CUDA, so a CPU test left at the default would get the CUDA kernels
// (or an error for a cpu_* id). CPU tests pass cpu_options(); CUDA tests cuda_options().
#pragma once

#include "kernels/api.h"

namespace fusebox::test {

inline kernels::DeviceInfo cpu_device() {
  kernels::DeviceInfo cpu;
  cpu.name = "cpu";
  return cpu;
}

inline kernels::KernelizeOptions cpu_options(
    kernels::KernelMode mode = kernels::KernelMode::kTraining) {
  kernels::KernelizeOptions options;
  options.mode = mode;
  options.device = cpu_device();
  return options;
}

// The detected device, which a CUDA test has checked is a GPU (tests/cuda/cuda_test.h).
inline kernels::KernelizeOptions cuda_options(
    kernels::KernelMode mode = kernels::KernelMode::kTraining) {
  kernels::KernelizeOptions options;
  options.mode = mode;
  options.device = kernels::detect_device();
  return options;
}

}  // namespace fusebox::test
