// A read-only memory map of a whole file, unmapped on destruction. Safetensors readers copy
// tensors out of it, so pages are read on demand and a shard is never loaded twice.
// A file shrunk by another process while mapped raises SIGBUS on access; fusebox never
// modifies a checkpoint in place (saves go to a new directory renamed over the old one).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace fusebox::io {

class MappedFile {
 public:
  // Throws fusebox::DataError naming the file and the OS's reason when it cannot be opened,
  // is not a regular file, or cannot be mapped. An empty file maps to (nullptr, 0).
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  void unmap() noexcept;

  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace fusebox::io
