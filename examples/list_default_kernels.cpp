// Prints the kernels `include_kernels: auto` would use on this machine.
//   ./build/bin/list_default_kernels
#include <iostream>

#include "kernels/api.h"

int main() {
  auto device = fusebox::kernels::detect_device();
  auto ids = fusebox::kernels::get_default_kernels(device);
  std::cout << "default kernels on " << device.describe() << ": " << ids.size() << "\n";
  for (const auto& id : ids)
    std::cout << "  " << id << "\n";
  return 0;
}
