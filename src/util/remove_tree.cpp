#include "util/remove_tree.h"

#include <ftw.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>

namespace fusebox {
namespace {

int remove_entry(const char* path, const struct stat*, int, struct FTW*) {
  // FTW_DEPTH visits a directory after its contents, so it is empty by now.
  return std::remove(path) == 0 ? 0 : errno;
}

}  // namespace

std::error_code remove_tree(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return {};
    return {errno, std::generic_category()};
  }
  int rc = ::nftw(path.c_str(), remove_entry, 32, FTW_DEPTH | FTW_PHYS);
  if (rc == 0) return {};
  return {rc > 0 ? rc : errno, std::generic_category()};
}

}  // namespace fusebox
