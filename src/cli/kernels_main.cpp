// kernels list [--json] [--device cpu|cuda]: what the kernel registry holds.
// kernels bench [args...]: runs the benchmark harness (fusebox_bench, built beside this
// program) with the same arguments, e.g. `kernels bench --quick --json out.json`.
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <filesystem>
#include <iostream>

#include "cli/kernels_list.h"
#include "kernels/device.h"
#include "util/error.h"

namespace {

// Replaces this process with fusebox_bench from the same directory.
int exec_bench(int argc, char** argv) {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  auto bench = (ec ? std::filesystem::path(argv[0]) : self).parent_path() / "fusebox_bench";
  if (!std::filesystem::exists(bench)) {
    std::cerr << "error: benchmark program not found at " << bench.string()
              << " (configure with -DFUSEBOX_BUILD_BENCHMARKS=ON)\n";
    return 2;
  }
  std::vector<char*> args = {const_cast<char*>(bench.c_str())};
  for (int i = 2; i < argc; ++i)
    args.push_back(argv[i]);
  args.push_back(nullptr);
  execv(bench.c_str(), args.data());
  std::cerr << "error: cannot run " << bench.string() << "\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  // `bench` forwards every argument untouched, so it is handled before CLI11 parses.
  if (argc >= 2 && std::string(argv[1]) == "bench") return exec_bench(argc, argv);
  CLI::App app{"fusebox kernels: inspect the kernel registry, run the benchmarks"};
  app.add_subcommand("bench", "run the kernel benchmarks (arguments go to fusebox_bench)");
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
