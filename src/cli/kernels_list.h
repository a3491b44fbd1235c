// `kernels list`: every registered kernel with its layer, device, modes and whether it is
// available and default-enabled here, as a table or JSON.
#pragma once

#include <ostream>

#include "kernels/device.h"

namespace fusebox::cli {

void print_kernel_table(std::ostream& out, const kernels::DeviceInfo& device);
void print_kernel_json(std::ostream& out, const kernels::DeviceInfo& device);

}  // namespace fusebox::cli
