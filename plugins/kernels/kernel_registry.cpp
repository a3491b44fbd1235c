#include "kernels/kernel_registry.h"

#include "util/error.h"
#include "util/strings.h"

namespace fusebox::kernels {

KernelRegistry& KernelRegistry::global() {
  // Function-local static: constructed on first use, so registrars in any translation unit
  // may run before or after this file's own initialisers.
  static KernelRegistry registry;
  return registry;
}

namespace {
std::string duplicate_message(const KernelSpec& existing, const KernelSpec& incoming) {
  return str("duplicate kernel id '", incoming.id, "': registered by ", existing.source_file,
             " and again by ", incoming.source_file);
}
}  // namespace

void KernelRegistry::add(KernelSpec spec) {
  if (spec.id.empty()) throw KernelError(str("kernel with empty id (", spec.source_file, ")"));
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = specs_.find(spec.id);
  if (it != specs_.end()) throw KernelError(duplicate_message(*it->second, spec));
  std::string id = spec.id;
  specs_.emplace(id, std::make_unique<KernelSpec>(std::move(spec)));
}

void KernelRegistry::add_deferred(KernelSpec spec) {
  try {
    add(std::move(spec));
  } catch (const KernelError& e) {
    std::lock_guard<std::mutex> lock(mutex_);
    deferred_errors_.push_back(e.what());
  }
}

void KernelRegistry::remove(const std::string& id) {
  std::lock_guard<std::mutex> lock(mutex_);
  specs_.erase(id);
}

void KernelRegistry::check() const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!deferred_errors_.empty()) throw KernelError(join(deferred_errors_, "; "));
}

const KernelSpec* KernelRegistry::find(const std::string& id) const {
  check();
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = specs_.find(id);
  return it == specs_.end() ? nullptr : it->second.get();
}

const KernelSpec& KernelRegistry::get(const std::string& id) const {
  if (const KernelSpec* spec = find(id)) return *spec;
  std::vector<std::string> known = ids();
  std::string hint = closest_match(id, known);
  throw KernelError(str("unknown kernel id '", id, "'", hint.empty() ? "" : "; did you mean '",
                        hint, hint.empty() ? "" : "'?",
                        "; registered kernels: ", known.empty() ? "(none)" : join(known, ", ")));
}

std::vector<const KernelSpec*> KernelRegistry::all() const {
  check();
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<const KernelSpec*> out;
  for (const auto& [id, spec] : specs_)
    out.push_back(spec.get());
  return out;
}

std::vector<std::string> KernelRegistry::ids() const {
  std::vector<std::string> out;
  for (const KernelSpec* spec : all())
    out.push_back(spec->id);
  return out;
}

}  // namespace fusebox::kernels
