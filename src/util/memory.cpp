#include "util/memory.h"

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <string>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace fusebox {
namespace {

// Reads a "Key:   1234 kB" line of /proc/self/status.
int64_t status_kib(const std::string& key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, key.size(), key) == 0 && line.size() > key.size() &&
        line[key.size()] == ':')
      return std::stoll(line.substr(key.size() + 1));
  }
  return 0;
}

}  // namespace

int64_t peak_rss_bytes() {
  return status_kib("VmHWM") * 1024;
}
int64_t current_rss_bytes() {
  return status_kib("VmRSS") * 1024;
}

bool keep_freed_memory_for_reuse() {
#if defined(__GLIBC__)
  const char* opt = std::getenv("FUSEBOX_MALLOC_KEEP");
  if (opt != nullptr && std::strcmp(opt, "0") == 0) return false;
  // No mmap'd blocks at all: M_MMAP_THRESHOLD cannot be raised above 32 MB, so the only way to
  // keep large blocks on the heap is to turn mmap allocation off.
  bool ok = mallopt(M_MMAP_MAX, 0) == 1;
  // Never shrink the heap top on free; the next step would fault it all in again.
  ok = mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max()) == 1 && ok;
  return ok;
#else
  return false;
#endif
}

}  // namespace fusebox
