// Deleting a directory tree without std::filesystem::remove_all.
//
// Why: in a program linked against the torch 2.11 pip wheel (the GPU machine), a recursive
// std::filesystem::remove_all on a non-empty directory jumps to a null address. The wheel's
// libraries appear to carry their own copy of libstdc++'s filesystem internals, and calls can
// bind to it. The test suite crashed in every test that removed a scratch directory, and a
// run that pruned old checkpoints would crash the same way. nftw() from libc has none of that.
#pragma once

#include <string>
#include <system_error>

namespace fusebox {

// Removes `path` and everything under it (symlinks are removed, never followed). A path that
// does not exist is success. Returns the first error met (the rest of the tree may remain).
std::error_code remove_tree(const std::string& path);

}  // namespace fusebox
