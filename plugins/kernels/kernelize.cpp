#include "kernels/kernelize.h"

#include <algorithm>
#include <set>

#include "util/error.h"
#include "util/log.h"
#include "util/strings.h"

namespace fusebox::kernels {
namespace {

const KernelRegistry& registry_of(const KernelizeOptions& options) {
  return options.registry ? *options.registry : KernelRegistry::global();
}

// Explicitly named kernels: each must exist, be built for this device, be available, and be
// the only one named for its layer.
std::vector<const KernelSpec*> resolve_requested(const std::vector<std::string>& ids,
                                                 const KernelizeOptions& options) {
  const KernelRegistry& registry = registry_of(options);
  std::vector<const KernelSpec*> specs;
  std::map<std::string, std::string> by_layer;
  for (const std::string& id : ids) {
    const KernelSpec& spec = registry.get(id);  // throws with the known ids
    if (!spec.matches_device(options.device)) {
      throw KernelError(str("kernel '", id, "' needs device ", spec.device_requirement(),
                            ", but the detected device is ", options.device.describe()));
    }
    std::string why;
    if (!spec.is_available(options.device, &why))
      throw KernelError(str("kernel '", id, "' is not available here: ", why));
    auto [it, fresh] = by_layer.emplace(spec.layer, id);
    if (!fresh) {
      throw KernelError(str("kernels '", it->second, "' and '", id, "' both replace layer '",
                            spec.layer, "'; name at most one kernel per layer"));
    }
    specs.push_back(&spec);
  }
  return specs;
}

// Default-enabled kernels available on the device; the rest are skipped with a debug line.
std::vector<const KernelSpec*> resolve_auto(const KernelizeOptions& options) {
  std::vector<const KernelSpec*> specs;
  for (const KernelSpec* spec : registry_of(options).all()) {
    std::string why;
    if (!spec->default_enabled) {
      log::debug("kernelize: '", spec->id, "' skipped by auto: not enabled by default");
    } else if (!spec->is_available(options.device, &why)) {
      log::debug("kernelize: '", spec->id, "' skipped by auto: ", why);
    } else {
      specs.push_back(spec);
    }
  }
  return specs;
}

// Fills slots of `modules` from `candidates` (highest priority first per layer).
void apply(const std::vector<std::pair<std::string, Kernelizable*>>& modules,
           std::vector<const KernelSpec*> candidates, bool requested,
           const KernelizeOptions& options, KernelizeReport& report) {
  std::stable_sort(
      candidates.begin(), candidates.end(),
      [](const KernelSpec* a, const KernelSpec* b) { return a->priority > b->priority; });
  std::set<std::string> model_layers;
  for (const auto& [path, layer] : modules)
    model_layers.insert(layer->layer_name());
  if (requested) {
    for (const KernelSpec* spec : candidates) {
      if (!model_layers.count(spec->layer)) {
        throw KernelError(str("kernel '", spec->id, "' replaces layer '", spec->layer,
                              "', but the model has no such layer; its layers: ",
                              join({model_layers.begin(), model_layers.end()}, ", ")));
      }
    }
  }
  for (const auto& [path, layer] : modules) {
    for (const KernelSpec* spec : candidates) {
      if (spec->layer != layer->layer_name()) continue;
      std::string reason;
      if (options.mode == KernelMode::kTraining && !spec->has_backward) {
        reason = "it has no backward and this run trains";
      } else if (spec->supports && !spec->supports(*layer, &reason)) {
        if (reason.empty()) reason = "it does not support this layer instance";
      }
      if (!reason.empty()) {
        if (options.strict) {
          throw KernelError(str("kernel '", spec->id, "' cannot serve ", path, ": ", reason,
                                " (kernel_config.strict is true)"));
        }
        report.fallbacks.push_back({path, layer->layer_name(), spec->id, reason, requested});
        continue;
      }
      layer->install_kernel(*spec);
      report.applied.push_back({path, layer->layer_name(), spec->id});
      break;
    }
  }
}

void count_reference_layers(const std::vector<std::pair<std::string, Kernelizable*>>& modules,
                            KernelizeReport& report) {
  for (const auto& [path, layer] : modules)
    if (!layer->kernelized()) report.reference_layers[layer->layer_name()]++;
}

KernelizeReport new_report(const KernelizeOptions& options, std::string policy) {
  KernelizeReport report;
  report.mode = options.mode;
  report.device = options.device.describe();
  report.policy = std::move(policy);
  return report;
}

}  // namespace

std::vector<std::pair<std::string, Kernelizable*>> kernelizable_modules(torch::nn::Module& model) {
  std::vector<std::pair<std::string, Kernelizable*>> out;
  for (const auto& item : model.named_modules()) {
    if (auto* k = dynamic_cast<Kernelizable*>(item.value().get()))
      out.emplace_back(item.key().empty() ? "<root>" : item.key(), k);
  }
  return out;
}

void unkernelize(torch::nn::Module& model) {
  for (auto& [path, layer] : kernelizable_modules(model))
    layer->clear_kernel();
}

KernelizeReport kernelize(torch::nn::Module& model, const IncludeKernels& policy,
                          const KernelizeOptions& options) {
  auto modules = kernelizable_modules(model);
  KernelizeReport report = new_report(options, policy.to_string());
  // Resolve before touching the model, so an error leaves it as it was.
  std::vector<const KernelSpec*> candidates;
  if (policy.kind == IncludeKernels::Kind::kList)
    candidates = resolve_requested(policy.ids, options);
  if (policy.kind == IncludeKernels::Kind::kAuto) candidates = resolve_auto(options);
  unkernelize(model);
  try {
    apply(modules, candidates, policy.kind == IncludeKernels::Kind::kList, options, report);
  } catch (...) {
    unkernelize(model);  // strict-mode errors leave no half-kernelized model behind
    throw;
  }
  count_reference_layers(modules, report);
  return report;
}

KernelizeReport install_kernels(torch::nn::Module& model, const std::vector<std::string>& ids,
                                const KernelizeOptions& options) {
  auto modules = kernelizable_modules(model);
  KernelizeReport report = new_report(options, join(ids, ","));
  std::vector<const KernelSpec*> candidates = resolve_requested(ids, options);
  // Only modules of the named kernels' layers are touched; others keep what they have.
  apply(modules, candidates, /*requested=*/true, options, report);
  count_reference_layers(modules, report);
  return report;
}

int KernelizeReport::count(const std::string& kernel_id) const {
  return static_cast<int>(std::count_if(applied.begin(), applied.end(), [&](const ModulePatch& p) {
    return p.kernel_id == kernel_id;
  }));
}

std::string KernelizeReport::summary() const {
  std::map<std::string, std::pair<std::string, int>> per_kernel;  // id -> (layer, modules)
  for (const auto& p : applied) {
    auto& entry = per_kernel[p.kernel_id];
    entry.first = p.layer;
    entry.second++;
  }
  std::vector<std::string> parts;
  for (const auto& [id, entry] : per_kernel)
    parts.push_back(
        str(id, " -> ", entry.second, " ", entry.first, " module", entry.second == 1 ? "" : "s"));
  std::vector<std::string> refs;
  for (const auto& [layer, n] : reference_layers)
    refs.push_back(str(layer, " x", n));
  std::string out =
      str("kernels (", kernel_mode_name(mode), ", ", device, ", include_kernels=", policy, "): ");
  out += parts.empty() ? "none applied" : join(parts, ", ");
  if (!refs.empty()) out += "; reference forward: " + join(refs, ", ");
  if (!fallbacks.empty()) out += str("; ", fallbacks.size(), " fallback(s), see debug log");
  return out;
}

void KernelizeReport::log() const {
  log::info(summary());
  for (const auto& p : applied)
    log::debug("kernelize: ", p.module_path, " (", p.layer, ") <- ", p.kernel_id);
  for (const auto& f : fallbacks) {
    std::string line = str("kernelize: ", f.module_path, " (", f.layer, ") keeps the reference: '",
                           f.kernel_id, "' not used because ", f.reason);
    if (f.requested) {
      log::warn(line);
    } else {
      log::debug(line);
    }
  }
}

}  // namespace fusebox::kernels
