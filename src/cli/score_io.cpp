#include "cli/score_io.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "util/error.h"
#include "util/strings.h"

namespace fusebox::cli {

torch::Tensor read_input_ids(const std::string& path, int64_t vocab_size) {
  std::ifstream in(path);
  if (!in) throw DataError(str("cannot open input ids file '", path, "'"));
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    throw DataError(str(path, ": invalid JSON: ", e.what()));
  }
  if (!doc.is_object() || !doc.contains("input_ids"))
    throw DataError(str(path, ": expected an object with key \"input_ids\": [[...], ...]"));
  const auto& rows = doc["input_ids"];
  if (!rows.is_array() || rows.empty() || !rows[0].is_array())
    throw DataError(str(path, ": \"input_ids\" must be a non-empty list of rows (lists of ids)"));
  const size_t seq = rows[0].size();
  if (seq < 2) throw DataError(str(path, ": rows need at least 2 ids for a next-token loss"));
  std::vector<int64_t> flat;
  flat.reserve(rows.size() * seq);
  for (size_t r = 0; r < rows.size(); ++r) {
    if (!rows[r].is_array() || rows[r].size() != seq) {
      throw DataError(str(path, ": row ", r, " has ",
                          rows[r].is_array() ? std::to_string(rows[r].size()) : "no", " ids; ",
                          "expected ", seq, " like row 0 (rows must have equal length)"));
    }
    for (size_t c = 0; c < seq; ++c) {
      const auto& v = rows[r][c];
      if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() >= vocab_size) {
        throw DataError(str(path, ": input_ids[", r, "][", c, "] = ", v.dump(),
                            "; expected an integer in [0, ", vocab_size, ")"));
      }
      flat.push_back(v.get<int64_t>());
    }
  }
  return torch::tensor(flat, torch::kInt64)
      .view({static_cast<int64_t>(rows.size()), static_cast<int64_t>(seq)});
}

void write_score_json(const std::string& path, double loss, const torch::Tensor& logits) {
  auto l = logits.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  const float* p = l.data_ptr<float>();
  int64_t b = l.size(0), s = l.size(1), v = l.size(2);
  // Written by hand rather than through a json tree: logits can be millions of floats.
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw DataError(str("cannot write '", tmp, "'"));
    char buf[32];
    out << "{\"loss\": " << nlohmann::json(loss).dump()
        << ", \"perplexity\": " << nlohmann::json(std::exp(loss)).dump() << ", \"logits\": [";
    for (int64_t i = 0; i < b; ++i) {
      out << (i ? ",\n [" : "\n [");
      for (int64_t j = 0; j < s; ++j) {
        out << (j ? ",\n  [" : "\n  [");
        for (int64_t k = 0; k < v; ++k) {
          std::snprintf(buf, sizeof buf, "%s%.9g", k ? ", " : "", p[(i * s + j) * v + k]);
          out << buf;
        }
        out << "]";
      }
      out << "]";
    }
    out << "]}\n";
    out.flush();
    if (!out) throw DataError(str("writing '", tmp, "' failed (disk full?)"));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    throw DataError(str("cannot rename '", tmp, "' to '", path, "'"));
}

}  // namespace fusebox::cli
