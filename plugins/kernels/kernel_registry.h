// The table of every kernel this process knows: built-in ones register themselves at static
// initialisation (register.h). Lookups throw with the list of what is registered; a miss never
// returns null silently.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "kernels/kernel_spec.h"

namespace fusebox::kernels {

class KernelRegistry {
 public:
  // The process-wide registry that FUSEBOX_REGISTER_KERNEL fills.
  static KernelRegistry& global();

  // Adds a kernel. A duplicate id throws KernelError naming both source files.
  void add(KernelSpec spec);
  // Static-initialisation path: an exception there would terminate the process before main,
  // so a duplicate is recorded and thrown by the first lookup instead.
  void add_deferred(KernelSpec spec);
  // Removes a kernel (tests, unloading a package); unknown ids are ignored.
  void remove(const std::string& id);

  // Throws KernelError naming the known ids when `id` is not registered.
  const KernelSpec& get(const std::string& id) const;
  const KernelSpec* find(const std::string& id) const;
  // Every kernel, sorted by id. Specs have stable addresses for the registry's lifetime.
  std::vector<const KernelSpec*> all() const;
  std::vector<std::string> ids() const;

  // Rethrows a deferred registration error (duplicate id), if any.
  void check() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::unique_ptr<KernelSpec>> specs_;
  std::vector<std::string> deferred_errors_;
};

}  // namespace fusebox::kernels
