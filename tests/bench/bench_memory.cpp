#include "bench/bench_memory.h"

#include <c10/core/CPUAllocator.h>
#include <malloc.h>
#include <sys/mman.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <stdexcept>

namespace fusebox::bench {
namespace {

std::atomic<int64_t> g_live{0};
std::atomic<int64_t> g_peak{0};
MallocMode g_mode = MallocMode::kDefault;

void add_live(int64_t n) {
  int64_t now = g_live.fetch_add(n) + n;
  int64_t peak = g_peak.load();
  while (now > peak && !g_peak.compare_exchange_weak(peak, now)) {
  }
}

// Each block carries a 64-byte header in front of the data (its size and how it was
// obtained), so the data pointer doubles as the DataPtr context (the "raw" allocator
// interface stays usable) and the data keeps libtorch's 64-byte alignment.
constexpr size_t kHeader = 64;
constexpr size_t kHugeBlock = size_t{4} << 20;
struct Header {
  size_t bytes;
  size_t mapped;  // 0 = from malloc; otherwise the length of the mmap
};

void free_block(void* data) {
  if (data == nullptr) return;
  char* base = static_cast<char*>(data) - kHeader;
  auto* h = reinterpret_cast<Header*>(base);
  g_live.fetch_sub(static_cast<int64_t>(h->bytes));
  if (h->mapped) {
    munmap(base, h->mapped);
  } else {
    std::free(base);
  }
}

c10::DataPtr allocate_block(size_t n) {
  void* base = nullptr;
  size_t mapped = 0;
  if (g_mode == MallocMode::kHugePage && n + kHeader >= kHugeBlock) {
    mapped = n + kHeader;
    base = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) throw std::bad_alloc();
    madvise(base, mapped, MADV_HUGEPAGE);  // a hint: without THP it is a no-op
  } else if (posix_memalign(&base, kHeader, n + kHeader) != 0) {
    throw std::bad_alloc();
  }
  *static_cast<Header*>(base) = {n, mapped};
  add_live(static_cast<int64_t>(n));
  void* data = static_cast<char*>(base) + kHeader;
  return {data, data, &free_block, c10::Device(c10::DeviceType::CPU)};
}

// torch 2.3 made allocate() non-const and added copy_data().
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3)
struct TrackingAllocator final : c10::Allocator {
  c10::DataPtr allocate(size_t n) override { return allocate_block(n); }
  c10::DeleterFnPtr raw_deleter() const override { return &free_block; }
  void copy_data(void* dest, const void* src, std::size_t count) const override {
    default_copy_data(dest, src, count);
  }
};
#else
struct TrackingAllocator final : c10::Allocator {
  c10::DataPtr allocate(size_t n) const override { return allocate_block(n); }
  c10::DeleterFnPtr raw_deleter() const override { return &free_block; }
};
#endif

}  // namespace

MallocMode parse_malloc_mode(const std::string& name) {
  if (name == "default") return MallocMode::kDefault;
  if (name == "no-mmap") return MallocMode::kNoMmap;
  if (name == "hugepage") return MallocMode::kHugePage;
  throw std::invalid_argument("--malloc: expected default, no-mmap or hugepage, but got '" + name +
                              "'");
}

const char* malloc_mode_name(MallocMode mode) {
  return mode == MallocMode::kNoMmap     ? "no-mmap"
         : mode == MallocMode::kHugePage ? "hugepage"
                                         : "default";
}

void install_tracking_allocator(MallocMode mode) {
  g_mode = mode;
  if (mode == MallocMode::kNoMmap) {
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);  // keep freed memory for the next pass
  }
  static TrackingAllocator allocator;
  // Priority above libtorch's default registration (0), so it is not replaced back.
  c10::SetCPUAllocator(&allocator, /*priority=*/100);
}

int64_t live_tensor_bytes() {
  return g_live.load();
}

int64_t peak_tensor_bytes() {
  return g_peak.load();
}

void reset_peak_tensor_bytes() {
  g_peak.store(g_live.load());
}

}  // namespace fusebox::bench
