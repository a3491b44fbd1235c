#include "util/memory.h"

#include <fstream>
#include <string>

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

}  // namespace fusebox
