#include "cli/kernels_list.h"

#include <iomanip>
#include <nlohmann/json.hpp>

#include "kernels/kernel_registry.h"
#include "util/strings.h"

namespace fusebox::cli {
namespace {

std::string modes_text(const kernels::KernelSpec& spec) {
  std::vector<std::string> names;
  for (auto m : spec.modes())
    names.push_back(kernels::kernel_mode_name(m));
  return join(names, "+");
}

}  // namespace

void print_kernel_table(std::ostream& out, const kernels::DeviceInfo& device) {
  auto specs = kernels::KernelRegistry::global().all();
  out << "device: " << device.describe() << "\n";
  out << std::left << std::setw(34) << "id" << std::setw(12) << "layer" << std::setw(20) << "device"
      << std::setw(20) << "modes" << std::setw(10) << "default"
      << "available here\n";
  for (const auto* spec : specs) {
    std::string why;
    bool available = spec->is_available(device, &why);
    out << std::left << std::setw(34) << spec->id << std::setw(12) << spec->layer << std::setw(20)
        << spec->device_requirement() << std::setw(20) << modes_text(*spec) << std::setw(10)
        << (spec->default_enabled ? "yes" : "no") << (available ? "yes" : "no (" + why + ")")
        << "\n";
  }
  out << specs.size() << " kernel(s) registered\n";
}

void print_kernel_json(std::ostream& out, const kernels::DeviceInfo& device) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto* spec : kernels::KernelRegistry::global().all()) {
    std::string why;
    bool available = spec->is_available(device, &why);
    std::vector<std::string> modes;
    for (auto m : spec->modes())
      modes.push_back(kernels::kernel_mode_name(m));
    list.push_back({{"id", spec->id},
                    {"layer", spec->layer},
                    {"device", kernels::device_type_name(spec->device)},
                    {"min_compute_capability", spec->min_compute_capability},
                    {"max_compute_capability", spec->max_compute_capability},
                    {"modes", modes},
                    {"has_backward", spec->has_backward},
                    {"default_enabled", spec->default_enabled},
                    {"priority", spec->priority},
                    {"available", available},
                    {"unavailable_reason", available ? "" : why},
                    {"description", spec->description},
                    {"source", spec->source_file}});
  }
  nlohmann::json doc = {{"device", device.describe()}, {"kernels", list}};
  out << doc.dump(2) << "\n";
}

}  // namespace fusebox::cli
