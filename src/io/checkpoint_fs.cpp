#include "io/checkpoint_fs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>  // renameat2 and RENAME_EXCHANGE (glibc >= 2.28)
#include <cstring>
#include <filesystem>

#include "util/error.h"
#include "util/log.h"
#include "util/remove_tree.h"
#include "util/strings.h"

namespace fusebox::io {
namespace fs = std::filesystem;
namespace {

std::string os_error(const std::string& what, const std::string& path) {
  return str("cannot ", what, " '", path, "': ", std::strerror(errno));
}

void rename_or_throw(const std::string& from, const std::string& to) {
  if (std::rename(from.c_str(), to.c_str()) != 0)
    throw DataError(str("cannot rename '", from, "' to '", to, "': ", std::strerror(errno)));
}

// Swaps two paths atomically. False when this kernel or filesystem cannot (the caller falls
// back to two renames); other failures throw.
bool exchange_paths(const std::string& a, const std::string& b) {
#if defined(__linux__) && defined(RENAME_EXCHANGE)
  if (::renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_EXCHANGE) == 0) return true;
  if (errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP) return false;
  throw DataError(str("cannot exchange '", a, "' and '", b, "': ", std::strerror(errno)));
#else
  (void)a;
  (void)b;
  return false;
#endif
}

// Best effort: the new checkpoint is already in place, so a failure here only leaves an
// old directory behind, which is worth a warning, not an exception.
void remove_quietly(const std::string& path) {
  std::error_code ec;
  ec = ::fusebox::remove_tree(path);
  if (ec) log::warn("could not remove '", path, "': ", ec.message(), "; remove it by hand");
}

}  // namespace

DurableFile::DurableFile(const std::string& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) throw DataError(os_error("create", path));
}

DurableFile::~DurableFile() {
  if (fd_ >= 0) ::close(fd_);
}

void DurableFile::write(const void* data, size_t size) {
  if (fd_ < 0) throw DataError(str("'", path_, "' was already finished; cannot write to it"));
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    // Linux writes at most ~2 GiB per call; larger tensors go in pieces.
    size_t chunk = std::min<size_t>(size, size_t{1} << 30);
    ssize_t n = ::write(fd_, p, chunk);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw DataError(os_error("write to", path_));
    }
    p += n;
    size -= static_cast<size_t>(n);
  }
}

void DurableFile::finish() {
  if (fd_ < 0) return;
  if (::fsync(fd_) != 0) throw DataError(os_error("fsync", path_));
  int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) throw DataError(os_error("close", path_));
}

void write_file_durably(const std::string& path, const std::string& text) {
  DurableFile file(path);
  file.write(text);
  file.finish();
}

void fsync_directory(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw DataError(os_error("open directory", path));
  int rc = ::fsync(fd);
  int saved = errno;
  ::close(fd);
  errno = saved;
  if (rc != 0) throw DataError(os_error("fsync directory", path));
}

void replace_file_with(const std::string& source, const std::string& target) {
  std::string temporary = str(target, ".tmp-", ::getpid());
  std::error_code ec;
  fs::remove(temporary, ec);
  if (::link(source.c_str(), temporary.c_str()) != 0) {
    // EXDEV (another filesystem), EPERM (links not allowed) and the like: copy instead.
    fs::copy_file(source, temporary, fs::copy_options::overwrite_existing, ec);
    if (ec) {
      fs::remove(temporary);
      throw DataError(str("cannot copy '", source, "' to '", temporary, "': ", ec.message()));
    }
    int fd = ::open(temporary.c_str(), O_RDONLY | O_CLOEXEC);
    bool synced = fd >= 0 && ::fsync(fd) == 0;
    if (fd >= 0) ::close(fd);
    if (!synced) {
      fs::remove(temporary, ec);
      throw DataError(os_error("fsync", temporary));
    }
  }
  if (std::rename(temporary.c_str(), target.c_str()) != 0) {
    std::string reason = std::strerror(errno);
    fs::remove(temporary, ec);
    throw DataError(str("cannot rename '", temporary, "' to '", target, "': ", reason));
  }
}

std::string normalize_target_directory(const std::string& target) {
  fs::path t = fs::path(target).lexically_normal();
  if (!t.empty() && t.filename().empty()) t = t.parent_path();  // "out/ckpt/" -> "out/ckpt"
  std::string name = t.filename().string();
  if (name.empty() || name == "." || name == "..") {
    throw DataError(str("cannot save a checkpoint to '", target,
                        "': expected a directory name such as "
                        "'out/checkpoint-100'"));
  }
  return t.string();
}

StagedDirectory::StagedDirectory(const std::string& target)
    : target_(normalize_target_directory(target)) {
  fs::path t(target_);
  parent_ = t.has_parent_path() ? t.parent_path().string() : ".";
  staging_ = str(target_, ".tmp-", ::getpid());

  std::error_code ec;
  auto status = fs::symlink_status(target_, ec);
  if (fs::exists(status) && !fs::is_directory(fs::status(target_, ec)))
    throw DataError(
        str("cannot save a checkpoint to '", target_, "': it exists and is not a directory"));
  fs::create_directories(parent_, ec);
  if (ec) throw DataError(str("cannot create directory '", parent_, "': ", ec.message()));
  ec = ::fusebox::remove_tree(staging_);  // stale: a crashed process that had our pid
  if (!fs::create_directory(staging_, ec) || ec) {
    throw DataError(str("cannot create staging directory '", staging_,
                        "': ", ec ? ec.message() : "it already exists"));
  }
}

StagedDirectory::~StagedDirectory() {
  if (!committed_) {
    std::error_code ec;
    ec = ::fusebox::remove_tree(staging_);
  }
}

void StagedDirectory::commit(CommitMode mode) {
  if (committed_) throw DataError(str("'", target_, "' was already committed"));
  fsync_directory(staging_);
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(target_, ec))) {
    rename_or_throw(staging_, target_);
    committed_ = true;
    fsync_directory(parent_);
    return;
  }
  if (mode == CommitMode::kExchange && exchange_paths(staging_, target_)) {
    committed_ = true;  // staging_ now holds the replaced checkpoint
    fsync_directory(parent_);
    remove_quietly(staging_);
    return;
  }
  std::string aside = str(target_, ".old-", ::getpid());
  ec = ::fusebox::remove_tree(aside);
  rename_or_throw(target_, aside);
  if (std::rename(staging_.c_str(), target_.c_str()) != 0) {
    std::string reason = std::strerror(errno);
    bool restored = std::rename(aside.c_str(), target_.c_str()) == 0;
    throw DataError(str("cannot rename '", staging_, "' to '", target_, "': ", reason,
                        restored ? "; the previous checkpoint is unchanged"
                                 : str("; the previous checkpoint is at '", aside, "'")));
  }
  committed_ = true;
  fsync_directory(parent_);
  remove_quietly(aside);
}

}  // namespace fusebox::io
