#include "io/safetensors_dtype.h"

#include "util/error.h"
#include "util/strings.h"

namespace fusebox::io {
namespace {

struct DtypePair {
  const char* name;
  torch::ScalarType type;
  const char* hf_name;
};

// Float8 and U16/U32/U64 have no torch type in libtorch 1.13, so they are not listed.
constexpr DtypePair kPairs[] = {
    {"F32", torch::kFloat32, "float32"}, {"BF16", torch::kBFloat16, "bfloat16"},
    {"F16", torch::kFloat16, "float16"}, {"F64", torch::kFloat64, "float64"},
    {"I64", torch::kInt64, "int64"},     {"I32", torch::kInt32, "int32"},
    {"I16", torch::kInt16, "int16"},     {"I8", torch::kInt8, "int8"},
    {"U8", torch::kUInt8, "uint8"},      {"BOOL", torch::kBool, "bool"},
};

std::string supported_names() {
  std::vector<std::string> names;
  for (const auto& p : kPairs)
    names.emplace_back(p.name);
  return join(names, ", ");
}

}  // namespace

torch::ScalarType torch_dtype_from_safetensors(const std::string& dtype, const std::string& where) {
  for (const auto& p : kPairs)
    if (dtype == p.name) return p.type;
  throw DataError(str(where, ": dtype ", dtype,
                      " cannot be read into a torch tensor; supported: ", supported_names()));
}

std::string safetensors_dtype_from_torch(torch::ScalarType dtype) {
  for (const auto& p : kPairs)
    if (dtype == p.type) return p.name;
  throw DataError(
      str("torch dtype ", c10::toString(dtype),
          " cannot be stored in safetensors by fusebox; supported: ", supported_names()));
}

std::string hf_dtype_name(torch::ScalarType dtype) {
  for (const auto& p : kPairs)
    if (dtype == p.type) return p.hf_name;
  throw DataError(str("torch dtype ", c10::toString(dtype), " has no config.json name"));
}

}  // namespace fusebox::io
