#include "io/safetensors_header.h"

#include <algorithm>
#include <iterator>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "util/error.h"
#include "util/strings.h"

namespace fusebox::io {
namespace {

using nlohmann::json;

struct DtypeSize {
  const char* name;
  size_t size;
};

// The safetensors spec's fixed-width dtypes, in the order of the Rust crate's Dtype enum
// (safetensors_dtype_order). The sub-byte ones (F4, F6_*) are left out: their sizes are not
// whole bytes per element and nothing here reads them.
constexpr DtypeSize kDtypes[] = {
    {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1}, {"F8_E8M0", 1},
    {"I16", 2},  {"U16", 2}, {"F16", 2}, {"BF16", 2},    {"I32", 4},     {"U32", 4},
    {"F32", 4},  {"F64", 8}, {"I64", 8}, {"U64", 8},
};

constexpr uint64_t kMaxInt64 = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

// A hostile file can hold a name megabytes long; messages show the start of it, quoted.
// (Not called `quoted`: ADL would pick std::quoted for a non-const std::string.)
std::string shown_name(const std::string& name) {
  constexpr size_t kShown = 120;
  if (name.size() <= kShown) return "'" + name + "'";
  return str("'", name.substr(0, kShown), "...' (", name.size(), " bytes)");
}

// A JSON value for a message: scalars as written, containers by kind (dumping a deeply
// nested value would recurse once per level).
std::string describe(const json& v) {
  if (v.is_string()) return shown_name(v.get<std::string>());
  if (v.is_primitive()) return v.dump();
  return str(v.is_object() ? "an object" : "an array", " of ", v.size(), " entries");
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::vector<std::string> dims;
  for (int64_t d : shape)
    dims.push_back(std::to_string(d));
  return "[" + join(dims, ", ") + "]";
}

// Bytes that `shape` of `dtype` occupies, every product checked for overflow. The product of
// the non-zero sizes must fit int64 (torch's element count) whatever the order of the sizes,
// even when a zero size makes the tensor empty; the byte count must fit uint64.
uint64_t tensor_bytes(const std::string& dtype, const std::vector<int64_t>& shape,
                      const std::string& where) {
  size_t itemsize = safetensors_dtype_size(dtype);
  if (itemsize == 0) {
    throw DataError(str(where, ": unknown dtype ", shown_name(dtype), "; expected one of ",
                        join(safetensors_dtype_names(), ", ")));
  }
  uint64_t product = 1;
  bool empty = false;
  for (int64_t d : shape) {
    if (d < 0) throw DataError(str(where, ": shape ", shape_string(shape), " has a negative size"));
    uint64_t dim = static_cast<uint64_t>(d);
    if (dim == 0) {
      empty = true;
      continue;
    }
    if (product > kMaxInt64 / dim) {
      throw DataError(
          str(where, ": shape ", shape_string(shape), " has sizes whose product overflows int64"));
    }
    product *= dim;
  }
  uint64_t numel = empty ? 0 : product;
  if (numel > std::numeric_limits<uint64_t>::max() / itemsize) {
    throw DataError(str(where, ": ", dtype, " x shape ", shape_string(shape),
                        " needs more bytes than fit in uint64 (overflow)"));
  }
  return numel * itemsize;
}

// A non-negative JSON integer. nlohmann parses non-negative literals as unsigned and
// negative ones as signed; floats (1.0, 1e3) and integers beyond uint64 are rejected.
uint64_t non_negative(const json& v, const std::string& where, const char* what) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer()) {
    int64_t s = v.get<int64_t>();
    if (s >= 0) return static_cast<uint64_t>(s);
  }
  throw DataError(str(where, ": ", what, " must be a non-negative integer, got ", describe(v)));
}

const json& required(const json& entry, const char* key, const std::string& where) {
  auto it = entry.find(key);
  if (it == entry.end()) {
    throw DataError(
        str(where, ": missing key '", key, "'; expected {\"dtype\", \"shape\", \"data_offsets\"}"));
  }
  return *it;
}

SafetensorsTensorInfo parse_tensor(const std::string& name, const json& entry, uint64_t data_size,
                                   const std::string& file) {
  std::string where = str(file, ": tensor ", shown_name(name));
  if (!entry.is_object()) {
    throw DataError(str(where,
                        ": expected an object {\"dtype\", \"shape\", \"data_offsets\"}, got ",
                        describe(entry)));
  }
  SafetensorsTensorInfo t;
  t.name = name;

  const json& dtype = required(entry, "dtype", where);
  if (!dtype.is_string())
    throw DataError(str(where, ": dtype must be a string such as \"F32\", got ", describe(dtype)));
  t.dtype = dtype.get<std::string>();

  const json& shape = required(entry, "shape", where);
  if (!shape.is_array())
    throw DataError(str(where, ": shape must be an array of sizes, got ", describe(shape)));
  for (const json& d : shape) {
    uint64_t dim = non_negative(d, where, "every shape entry");
    if (dim > kMaxInt64)
      throw DataError(str(where, ": shape entry ", dim, " does not fit int64 (overflow)"));
    t.shape.push_back(static_cast<int64_t>(dim));
  }
  uint64_t expected_bytes = tensor_bytes(t.dtype, t.shape, where);

  const json& offsets = required(entry, "data_offsets", where);
  if (!offsets.is_array() || offsets.size() != 2) {
    throw DataError(
        str(where, ": data_offsets must be an array [begin, end], got ", describe(offsets)));
  }
  t.begin = non_negative(offsets[0], where, "data_offsets begin");
  t.end = non_negative(offsets[1], where, "data_offsets end");
  if (t.begin > t.end) {
    throw DataError(str(where, ": data_offsets [", t.begin, ", ", t.end,
                        "] end before they begin; expected begin <= end"));
  }
  if (t.end - t.begin != expected_bytes) {
    throw DataError(str(where, ": data_offsets [", t.begin, ", ", t.end, "] hold ", t.end - t.begin,
                        " bytes, but dtype ", t.dtype, " x shape ", shape_string(t.shape),
                        " needs ", expected_bytes, " bytes"));
  }
  if (t.end > data_size) {
    throw DataError(str(where, ": data_offsets [", t.begin, ", ", t.end,
                        "] reach past the end of the data section (", data_size,
                        " bytes); the file is truncated or its header is wrong"));
  }
  return t;
}

void parse_metadata(const json& value, const std::string& file,
                    std::map<std::string, std::string>& out) {
  if (value.is_null()) return;  // the Rust reader accepts null as "no metadata"
  if (!value.is_object()) {
    throw DataError(
        str(file, ": __metadata__ must be an object of string -> string, got ", describe(value)));
  }
  for (const auto& [key, v] : value.items()) {
    if (!v.is_string()) {
      throw DataError(str(file, ": __metadata__ key ", shown_name(key),
                          " must have a string value, got ", describe(v)));
    }
    out[key] = v.get<std::string>();
  }
}

// Parses the JSON text, rejecting duplicate keys at any depth: nlohmann keeps the last of
// two equal keys, which would silently drop a tensor.
json parse_json(const char* text, size_t n, const std::string& file) {
  std::vector<std::set<std::string>> open_objects;  // keys seen in each enclosing object
  std::string tensor;                               // the top-level key being read
  auto on_event = [&](int depth, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start) {
      open_objects.emplace_back();
    } else if (event == json::parse_event_t::object_end) {
      if (!open_objects.empty()) open_objects.pop_back();
    } else if (event == json::parse_event_t::key && !open_objects.empty()) {
      const auto& key = parsed.get_ref<const std::string&>();
      bool top = depth == 1 && open_objects.size() == 1;
      if (top) tensor = key;
      if (!open_objects.back().insert(key).second) {
        if (top) throw DataError(str(file, ": tensor name ", shown_name(key), " appears twice"));
        throw DataError(str(file, ": tensor ", shown_name(tensor), ": key ", shown_name(key),
                            " appears twice in its entry"));
      }
    }
    return true;
  };
  try {
    return json::parse(text, text + n, on_event);
  } catch (const json::exception& e) {
    throw DataError(str(file, ": header is not valid JSON (", e.what(), ")"));
  }
}

void check_overlaps(const std::vector<SafetensorsTensorInfo>& tensors, const std::string& file) {
  std::vector<const SafetensorsTensorInfo*> by_offset;
  for (const auto& t : tensors)
    if (t.nbytes() > 0) by_offset.push_back(&t);  // an empty tensor overlaps nothing
  std::sort(by_offset.begin(), by_offset.end(), [](const auto* a, const auto* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const auto& prev = *by_offset[i - 1];
    const auto& cur = *by_offset[i];
    if (cur.begin < prev.end) {
      throw DataError(str(file, ": tensor ", shown_name(cur.name), " (bytes [", cur.begin, ", ",
                          cur.end, ")) overlaps tensor ", shown_name(prev.name), " (bytes [",
                          prev.begin, ", ", prev.end, ")); expected disjoint data_offsets"));
    }
  }
}

}  // namespace

size_t safetensors_dtype_size(const std::string& dtype) {
  for (const auto& d : kDtypes)
    if (dtype == d.name) return d.size;
  return 0;
}

const std::vector<std::string>& safetensors_dtype_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto& d : kDtypes)
      out.emplace_back(d.name);
    return out;
  }();
  return names;
}

int safetensors_dtype_order(const std::string& dtype) {
  for (size_t i = 0; i < std::size(kDtypes); ++i)
    if (dtype == kDtypes[i].name) return static_cast<int>(i);
  return -1;
}

const SafetensorsTensorInfo* SafetensorsHeader::find(const std::string& name) const {
  auto it = std::lower_bound(
      tensors.begin(), tensors.end(), name,
      [](const SafetensorsTensorInfo& t, const std::string& n) { return t.name < n; });
  return it != tensors.end() && it->name == name ? &*it : nullptr;
}

SafetensorsHeader parse_safetensors_header(const uint8_t* data, size_t size,
                                           const std::string& file) {
  if (size < 8) {
    throw DataError(str(file, ": file is ", size,
                        " bytes; expected at least 8 (the header length), so it is truncated "
                        "or not a safetensors file"));
  }
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i)
    n = (n << 8) | data[i];  // little-endian whatever the host
  if (n > kMaxSafetensorsHeaderBytes) {
    throw DataError(str(file, ": header length ", n, " exceeds the ", kMaxSafetensorsHeaderBytes,
                        "-byte limit; the file is corrupt or not a safetensors file"));
  }
  if (n > size - 8) {
    throw DataError(str(file, ": header length ", n, " reaches past the end of the file (", size,
                        " bytes, so at most ", size - 8,
                        " header bytes); the file is truncated or not a safetensors file"));
  }
  SafetensorsHeader header;
  header.data_offset = 8 + n;
  header.data_size = size - header.data_offset;

  json root = parse_json(reinterpret_cast<const char*>(data + 8), n, file);
  if (!root.is_object()) {
    throw DataError(
        str(file, ": header must be a JSON object of tensor name -> entry, got ", describe(root)));
  }
  // json objects iterate in key order, so the tensors come out sorted by name for find().
  for (const auto& [key, value] : root.items()) {
    if (key == "__metadata__") {
      parse_metadata(value, file, header.metadata);
    } else {
      header.tensors.push_back(parse_tensor(key, value, header.data_size, file));
    }
  }
  check_overlaps(header.tensors, file);
  return header;
}

uint64_t layout_safetensors_tensors(std::vector<SafetensorsTensorInfo>& tensors,
                                    const std::string& file) {
  uint64_t offset = 0;
  for (auto& t : tensors) {
    uint64_t bytes = tensor_bytes(t.dtype, t.shape, str(file, ": tensor ", shown_name(t.name)));
    if (bytes > std::numeric_limits<uint64_t>::max() - offset)
      throw DataError(str(file, ": total tensor bytes overflow uint64"));
    t.begin = offset;
    t.end = offset + bytes;
    offset = t.end;
  }
  return offset;
}

std::string serialize_safetensors_header(const std::vector<SafetensorsTensorInfo>& tensors,
                                         const std::map<std::string, std::string>& metadata) {
  // ordered_json keeps "__metadata__" first and each entry as dtype, shape, data_offsets,
  // the order the Rust writer uses.
  nlohmann::ordered_json root = nlohmann::ordered_json::object();
  if (!metadata.empty()) root["__metadata__"] = metadata;
  std::set<std::string> seen;
  for (const auto& t : tensors) {
    if (t.name == "__metadata__")
      throw DataError("a tensor cannot be named '__metadata__' (reserved by safetensors)");
    if (!seen.insert(t.name).second)
      throw DataError(
          str("tensor name ", shown_name(t.name), " given twice; names must be unique"));
    root[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {t.begin, t.end}}};
  }
  std::string text;
  try {
    text = root.dump();
  } catch (const nlohmann::json::exception& e) {
    throw DataError(str("cannot write a safetensors header: ", e.what()));  // invalid UTF-8
  }
  text.append((8 - text.size() % 8) % 8, ' ');  // 8 + N stays a multiple of 8
  std::string out(8, '\0');
  uint64_t n = text.size();
  for (int i = 0; i < 8; ++i)
    out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + text;
}

}  // namespace fusebox::io
