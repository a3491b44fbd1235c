// Peak tensor memory on CPU libtorch, which has no memory statistics for the CPU (1.13 or 2.x).
//
// Method: a counting allocator replaces libtorch's CPU allocator for the whole program
// (c10::SetCPUAllocator with a higher priority). Every CPU tensor's storage goes through it,
// so it knows the bytes live now and the high-water mark since the last reset. "Peak added"
// by a pass = high-water mark during the pass minus the bytes live before it (inputs,
// weights): outputs, saved activations, gradients and every temporary the pass creates.
// Not seen: memory that libraries allocate for themselves (OpenBLAS and oneDNN scratch
// buffers, the autograd graph's nodes), which is small next to tensors here. RSS high-water
// marks were rejected: glibc keeps freed chunks below 32 MB in the heap, so RSS follows the
// allocator's history, not the pass.
#pragma once

#include <cstdint>
#include <string>

namespace fusebox::bench {

// How tensor memory is obtained from the OS, to separate a kernel's own cost from the cost of
// first-touch page faults on freshly mapped memory (about 1 ms per MB on the 2-core VM of
// docs/BENCHMARKS.md, ten times the cost of writing it). glibc serves blocks above 32 MB
// with a fresh mmap every time, so every large output pays them.
enum class MallocMode {
  kDefault,   // glibc as configured: what a training run gets today
  kNoMmap,    // mallopt(M_MMAP_MAX, 0) and no trimming: freed blocks are reused from the heap
  kHugePage,  // blocks >= 4 MB are mmapped with MADV_HUGEPAGE: 512x fewer faults
};
MallocMode parse_malloc_mode(const std::string& name);  // "default", "no-mmap", "hugepage"
const char* malloc_mode_name(MallocMode mode);

// Installs the counting allocator; call once at the start of main, before timing anything.
void install_tracking_allocator(MallocMode mode);

int64_t live_tensor_bytes();
int64_t peak_tensor_bytes();
// Sets the high-water mark to the bytes live now.
void reset_peak_tensor_bytes();

}  // namespace fusebox::bench
