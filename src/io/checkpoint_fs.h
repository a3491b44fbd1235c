// The filesystem steps that make a checkpoint save crash-safe, torch-free: files written and
// fsynced, directories fsynced, and a staging directory moved over the target in one step.
#pragma once

#include <cstddef>
#include <string>

namespace fusebox::io {

// A file being written: created (or truncated), appended to, then fsynced and closed by
// finish(). Every failure is a fusebox::DataError naming the file and the OS's reason.
// Destroyed without finish() (an exception mid-write), it is closed without fsync.
class DurableFile {
 public:
  explicit DurableFile(const std::string& path);
  ~DurableFile();
  DurableFile(const DurableFile&) = delete;
  DurableFile& operator=(const DurableFile&) = delete;

  void write(const void* data, size_t size);
  void write(const std::string& bytes) { write(bytes.data(), bytes.size()); }
  // fsync, then close. A failing close is reported too: on NFS it can mean lost data.
  void finish();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
};

// Writes `text` to `path`, fsynced.
void write_file_durably(const std::string& path, const std::string& text);
// fsyncs a directory, so that the entries created or renamed in it survive a power cut.
void fsync_directory(const std::string& path);

// Gives `target` the contents of the finished file `source` in one step: a hard link to
// `source` (a fsynced copy where the filesystem cannot link) under a temporary name beside
// `target`, renamed over it. `target` is never partial; its directory is not fsynced here.
void replace_file_with(const std::string& source, const std::string& target);

// `target` as a directory path without a trailing separator ("out/ckpt/" -> "out/ckpt").
// Throws DataError when it names no directory of its own ("", ".", "..", "out/..").
std::string normalize_target_directory(const std::string& target);

// How commit() puts the staging directory in place of an existing target.
enum class CommitMode {
  kExchange,     // renameat2(RENAME_EXCHANGE) when the kernel and filesystem support it,
                 // else kRenameAside
  kRenameAside,  // rename target to <target>.old-<pid>, then staging to target (tests use
                 // this to cover the fallback on filesystems that have RENAME_EXCHANGE)
};

// A directory written beside its final place, `<target>.tmp-<pid>`, and renamed over the
// target once complete. What a crash (power cut, kill -9) can leave behind:
//   - while files are written: the target untouched, plus a partial `<target>.tmp-<pid>`;
//   - kExchange: nothing more, the swap is one atomic step; a crash after it leaves the old
//     checkpoint under `<target>.tmp-<pid>` (complete, and not named `target`);
//   - kRenameAside, between its two renames: no `target` at all, the old checkpoint complete
//     at `<target>.old-<pid>` and the new one complete at `<target>.tmp-<pid>`;
//   - while the replaced checkpoint is being removed: a partial `.tmp-`/`.old-` directory.
// In no window is there a directory named `target` holding a partial checkpoint. Leftover
// `.tmp-`/`.old-` directories are not cleaned up automatically: another process may still be
// writing one. Files are fsynced before the rename and the parent directory after it, so a
// power cut cannot reorder the rename before the data.
class StagedDirectory {
 public:
  // Creates the staging directory (and the target's parent). Throws DataError when the
  // target names no directory ("", ".", "..") or exists and is not a directory. A stale
  // staging directory with this pid (from a crashed process) is removed first.
  explicit StagedDirectory(const std::string& target);
  // Removes the staging directory unless commit() succeeded: an exception mid-save leaves
  // no trace.
  ~StagedDirectory();
  StagedDirectory(const StagedDirectory&) = delete;
  StagedDirectory& operator=(const StagedDirectory&) = delete;

  const std::string& path() const { return staging_; }  // write here
  const std::string& target() const { return target_; }

  // fsyncs the staging directory, moves it to the target (replacing a previous one), fsyncs
  // the parent and removes the replaced directory.
  void commit(CommitMode mode = CommitMode::kExchange);

 private:
  std::string target_;
  std::string parent_;
  std::string staging_;
  bool committed_ = false;
};

}  // namespace fusebox::io
