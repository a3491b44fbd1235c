// Process memory readings for logs and benchmarks (Linux /proc; 0 where unavailable).
#pragma once

#include <cstdint>

namespace fusebox {

// Peak resident set size of this process so far (VmHWM), in bytes.
int64_t peak_rss_bytes();
// Current resident set size (VmRSS), in bytes.
int64_t current_rss_bytes();

// Makes glibc's malloc keep freed memory for reuse instead of handing large blocks back to the
// kernel. By default glibc serves every block above ~32 MB with its own mmap and unmaps it on
// free, so a training step that allocates the same large tensors every step (logits,
// embedding gradients, optimizer temporaries: hundreds of MB on the 0.6B shape) pays a page
// fault and a kernel page-zeroing per 4 KiB page, every step: ~40% of the run was system time.
// After this call those blocks come from the heap and are reused; the cost is that the peak
// stays resident (which it was at the peak anyway). Set FUSEBOX_MALLOC_KEEP=0 to opt out.
// Returns whether it changed anything (false off glibc or when opted out).
bool keep_freed_memory_for_reuse();

}  // namespace fusebox
