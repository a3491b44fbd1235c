#include "kernels/kernelizable.h"

#include "util/error.h"
#include "util/strings.h"

namespace fusebox::kernels {

void Kernelizable::install_kernel(const KernelSpec& spec) {
  if (spec.layer != layer_name()) {
    throw KernelError(str("kernel '", spec.id, "' replaces layer '", spec.layer,
                          "' and cannot be installed into a '", layer_name(), "' layer"));
  }
  if (spec.slot_type != slot_type()) {
    throw KernelError(str("kernel '", spec.id, "' has a forward signature that does not match ",
                          "the '", layer_name(), "' layer's slot (", spec.source_file, ")"));
  }
  kernel_ = &spec;
}

}  // namespace fusebox::kernels
