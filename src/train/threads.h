// Intra-op threads for libtorch. Debian's libtorch starts with ONE thread on a 2-core
// machine, so fusebox always sets the count explicitly.
#pragma once

#include <cstdint>

namespace fusebox::train {

// requested <= 0 means all cores. Returns the count in effect.
int configure_threads(int64_t requested);

}  // namespace fusebox::train
