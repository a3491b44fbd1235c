// kernels list [--json] [--device cpu|cuda]: what the kernel registry holds.
#include <CLI/CLI.hpp>

#include <iostream>

#include "cli/kernels_list.h"
#include "kernels/device.h"
#include "util/error.h"

int main(int argc, char** argv) {
  CLI::App app{"fusebox kernels: inspect the kernel registry"};
  app.require_subcommand(1);
  auto* list = app.add_subcommand("list", "print every registered kernel");
  bool json = false;
  std::string device = "auto";
  list->add_flag("--json", json, "machine-readable output");
  list->add_option("--device", device, "device to judge availability for: auto, cpu, cuda");
  CLI11_PARSE(app, argc, argv);
  try {
    auto info = fusebox::kernels::resolve_device(device);
    if (json) {
      fusebox::cli::print_kernel_json(std::cout, info);
    } else {
      fusebox::cli::print_kernel_table(std::cout, info);
    }
    return 0;
  } catch (const fusebox::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  }
}
