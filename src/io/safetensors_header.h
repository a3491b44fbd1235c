// The safetensors file format, torch-free: the header parser (a file's table of tensors) and
// its inverse. Torch stays out so the parser can be fuzzed on its own
// (scripts/fuzz-safetensors.sh) and reused by tools that never touch tensors.
//
// A .safetensors file is
//   [8 bytes: N, little-endian u64][N bytes: JSON header][data section]
// and the header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]},
// offsets relative to the start of the data section, plus an optional "__metadata__"
// object of string -> string.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace fusebox::io {

// The Rust reference implementation refuses headers above 100 MB; so do we, which also
// bounds what a hostile length field can make us allocate.
constexpr uint64_t kMaxSafetensorsHeaderBytes = 100'000'000;

// Bytes per element of a safetensors dtype name ("F32" -> 4); 0 for an unknown name.
size_t safetensors_dtype_size(const std::string& dtype);
// Every dtype name the parser accepts, for error messages.
const std::vector<std::string>& safetensors_dtype_names();
// The dtype's place in the Rust writer's order (its Dtype enum, narrowest to widest
// alignment); -1 for an unknown name. Writers lay data out widest first, so every tensor
// starts at a multiple of its element size.
int safetensors_dtype_order(const std::string& dtype);

struct SafetensorsTensorInfo {
  std::string name;
  std::string dtype;           // "F32", "BF16", ...
  std::vector<int64_t> shape;  // [] is a scalar
  uint64_t begin = 0;          // byte range [begin, end) within the data section
  uint64_t end = 0;

  uint64_t nbytes() const { return end - begin; }
};

struct SafetensorsHeader {
  std::vector<SafetensorsTensorInfo> tensors;  // sorted by name
  std::map<std::string, std::string> metadata;
  uint64_t data_offset = 0;  // where the data section starts in the file: 8 + N
  uint64_t data_size = 0;    // bytes from data_offset to the end of the file

  // nullptr when the file has no tensor of that name.
  const SafetensorsTensorInfo* find(const std::string& name) const;
};

// Parses and validates the header of a whole safetensors file held in [data, data + size).
// Every malformed input is a fusebox::DataError naming `file`, the tensor when there is one,
// and what was expected: a length beyond the file, invalid JSON, a non-object, unknown
// dtypes, bad shapes, sizes that overflow, offsets that disagree with dtype x shape or lie
// outside the data section, overlapping tensors, duplicate names, a malformed __metadata__.
// Gaps between tensors are accepted (harmless for reading; the Rust writer never makes them).
// Never reads outside the buffer, whatever it holds.
SafetensorsHeader parse_safetensors_header(const uint8_t* data, size_t size,
                                           const std::string& file);

// The bytes a file starts with for `tensors` (whose begin/end must already be laid out):
// the 8-byte length and the JSON header, padded with spaces so that the data section starts
// at a multiple of 8 bytes, as the Rust writer does. Tensors are written in the order
// given. Throws DataError on a duplicate or reserved name.
std::string serialize_safetensors_header(const std::vector<SafetensorsTensorInfo>& tensors,
                                         const std::map<std::string, std::string>& metadata);

// Sets begin/end of each tensor so that they follow each other from offset 0 in the order
// given; returns the data section's size. Throws DataError on an unknown dtype or a size
// that overflows.
uint64_t layout_safetensors_tensors(std::vector<SafetensorsTensorInfo>& tensors,
                                    const std::string& file);

}  // namespace fusebox::io
