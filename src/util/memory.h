// Process memory readings for logs and benchmarks (Linux /proc; 0 where unavailable).
#pragma once

#include <cstdint>

namespace fusebox {

// Peak resident set size of this process so far (VmHWM), in bytes.
int64_t peak_rss_bytes();
// Current resident set size (VmRSS), in bytes.
int64_t current_rss_bytes();

}  // namespace fusebox
