// libFuzzer target for the safetensors header parser (scripts/fuzz-safetensors.sh builds and
// runs it under ASan and UBSan). The input is a whole file. Besides "no crash, no undefined
// behaviour, only DataError", every accepted header must satisfy the format's invariants and
// survive serialize -> parse unchanged, so the parser is checked for wrong answers too.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "io/safetensors_header.h"
#include "util/error.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();  // libFuzzer reports the input that got here
}

void check_invariants(const fusebox::io::SafetensorsHeader& h, size_t size) {
  check(h.data_offset >= 8 && h.data_offset + h.data_size == size);
  for (size_t i = 0; i < h.tensors.size(); ++i) {
    const auto& t = h.tensors[i];
    check(i == 0 || h.tensors[i - 1].name < t.name);  // sorted, unique
    check(h.find(t.name) == &t);
    check(t.begin <= t.end && t.end <= h.data_size);
    uint64_t bytes = fusebox::io::safetensors_dtype_size(t.dtype);
    check(bytes > 0);
    bool empty = false;
    for (int64_t d : t.shape) {
      check(d >= 0);
      empty = empty || d == 0;
    }
    // Without a zero size the product is bounded by end - begin, so it cannot overflow.
    for (int64_t d : t.shape)
      bytes = empty ? 0 : bytes * static_cast<uint64_t>(d);
    check(bytes == t.nbytes());
  }
}

void check_round_trip(const fusebox::io::SafetensorsHeader& h) {
  std::string bytes = fusebox::io::serialize_safetensors_header(h.tensors, h.metadata);
  check(bytes.size() % 8 == 0);
  bytes.append(h.data_size, '\0');
  auto again = fusebox::io::parse_safetensors_header(reinterpret_cast<const uint8_t*>(bytes.data()),
                                                     bytes.size(), "round trip");
  check(again.metadata == h.metadata && again.tensors.size() == h.tensors.size());
  for (size_t i = 0; i < h.tensors.size(); ++i) {
    const auto &a = h.tensors[i], &b = again.tensors[i];
    check(a.name == b.name && a.dtype == b.dtype && a.shape == b.shape && a.begin == b.begin &&
          a.end == b.end);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fusebox::io::SafetensorsHeader header;
  try {
    header = fusebox::io::parse_safetensors_header(data, size, "fuzz.safetensors");
  } catch (const fusebox::DataError&) {
    return 0;  // the expected way to reject a file; anything else escaping is a bug
  }
  check_invariants(header, size);
  check_round_trip(header);  // a DataError here is a bug: it escapes and libFuzzer reports it
  return 0;
}
