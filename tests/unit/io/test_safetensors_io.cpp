// Reading and writing safetensors files: dtypes, layout, truncation, memory maps, and the
// sharded layout with its index.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "io/safetensors_index.h"
#include "io/safetensors_mmap.h"
#include "io/safetensors_reader.h"
#include "io/safetensors_writer.h"
#include "io_test_util.h"

namespace fusebox::io::testing {
namespace {

NamedTensors mixed_tensors() {
  torch::manual_seed(3);
  return {
      {"f32", torch::randn({3, 5})},
      {"bf16", torch::randn({7}).to(torch::kBFloat16)},
      {"f16", torch::randn({2, 2, 3}).to(torch::kFloat16)},
      {"f64", torch::randn({3}, torch::kFloat64)},
      {"i64", torch::arange(-5, 6, torch::kInt64)},
      {"i32", torch::arange(0, 9, torch::kInt32).reshape({3, 3})},
      {"u8", torch::arange(0, 200, 7, torch::kInt64).to(torch::kUInt8)},
      {"bool", torch::tensor({true, false, true})},
      {"scalar", torch::tensor(2.5)},
      {"empty", torch::zeros({0, 4})},
      {"transposed", torch::randn({4, 6}).t()},  // non-contiguous input
  };
}

TEST(SafetensorsIo, EveryDtypeRoundTripsBitExact) {
  TempDir tmp;
  auto tensors = mixed_tensors();
  write_safetensors(tmp / "x.safetensors", tensors);
  auto back = load_safetensors(tmp / "x.safetensors");
  ASSERT_EQ(back.size(), tensors.size());
  for (const auto& [name, t] : tensors) {
    const auto& got = back.at(name);
    EXPECT_EQ(got.scalar_type(), t.scalar_type()) << name;
    EXPECT_EQ(got.sizes(), t.sizes()) << name;
    EXPECT_TRUE(torch::equal(got, t)) << name;
  }
}

TEST(SafetensorsIo, HeaderLooksLikeTransformersOutput) {
  TempDir tmp;
  write_safetensors(tmp / "x.safetensors", mixed_tensors());
  SafetensorsFile file(tmp / "x.safetensors");
  EXPECT_EQ(file.header().data_offset % 8, 0u);
  EXPECT_EQ(file.header().metadata.at("format"), "pt");
  EXPECT_EQ(file.info("bf16").dtype, "BF16");
  EXPECT_EQ(file.info("f16").dtype, "F16");
  EXPECT_EQ(file.info("f32").dtype, "F32");
  EXPECT_EQ(file.info("bool").dtype, "BOOL");
  // As the Rust writer: packed from offset 0 with no gaps, widest dtype first then by name,
  // so every tensor is aligned to its element size.
  std::vector<const SafetensorsTensorInfo*> by_offset;
  for (const auto& t : file.header().tensors)
    by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const auto* a, const auto* b) { return a->begin < b->begin; });
  uint64_t offset = 0;
  for (size_t i = 0; i < by_offset.size(); ++i) {
    const auto& t = *by_offset[i];
    EXPECT_EQ(t.begin, offset) << t.name;
    EXPECT_EQ((file.header().data_offset + t.begin) % safetensors_dtype_size(t.dtype), 0u)
        << t.name;
    if (i > 0) {
      const auto& prev = *by_offset[i - 1];
      int po = safetensors_dtype_order(prev.dtype), to = safetensors_dtype_order(t.dtype);
      EXPECT_TRUE(po > to || (po == to && prev.name < t.name)) << prev.name << " / " << t.name;
    }
    offset = t.end;
  }
  EXPECT_EQ(offset, file.header().data_size);
  EXPECT_EQ(by_offset.front()->name, "i64");  // I64 follows F64 in the Rust enum: it leads
}

// Byte-for-byte what the Rust writer produces (its serialization tests, and files that
// safetensors 0.8 wrote for transformers 5.17, compared during development).
TEST(SafetensorsIo, BytesMatchTheRustWriter) {
  TempDir tmp;
  SafetensorsWriteOptions no_metadata;
  no_metadata.metadata.clear();
  auto values = torch::arange(0, 6, torch::kFloat32);
  write_safetensors(tmp / "a.safetensors", {{"attn.0", values.reshape({1, 2, 3})}}, no_metadata);
  std::string header = R"({"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}})";
  ASSERT_EQ(header.size(), 64u);  // a multiple of 8: no padding
  std::string data(reinterpret_cast<const char*>(values.data_ptr()), 24);
  EXPECT_EQ(read_bytes(tmp / "a.safetensors"), safetensors_bytes(header) + data);

  write_safetensors(tmp / "b.safetensors", {{"attn0", values.reshape({1, 1, 2, 3})}}, no_metadata);
  header = R"({"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}})";
  EXPECT_EQ(read_bytes(tmp / "b.safetensors"),
            safetensors_bytes(header + std::string(7, ' ')) + data);

  write_safetensors(tmp / "c.safetensors", {}, no_metadata);
  EXPECT_EQ(read_bytes(tmp / "c.safetensors"), safetensors_bytes("{}      "));

  write_safetensors(tmp / "d.safetensors",
                    {{"b", torch::zeros({1}, torch::kBFloat16)}, {"a", torch::zeros({1})}});
  header = R"({"__metadata__":{"format":"pt"},)"
           R"("a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
           R"("b":{"dtype":"BF16","shape":[1],"data_offsets":[4,6]}})";
  EXPECT_EQ(read_bytes(tmp / "d.safetensors"),
            safetensors_bytes(header + std::string((8 - header.size() % 8) % 8, ' '), 6));
}

TEST(SafetensorsIo, ConvertsOnReadAndWrite) {
  TempDir tmp;
  auto x = torch::randn({4, 3});
  SafetensorsWriteOptions bf16;
  bf16.dtype = torch::kBFloat16;
  write_safetensors(tmp / "x.safetensors", {{"x", x}}, bf16);
  SafetensorsFile file(tmp / "x.safetensors");
  EXPECT_EQ(file.info("x").dtype, "BF16");
  auto as_f32 = file.load("x", torch::kFloat32);
  EXPECT_EQ(as_f32.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::equal(as_f32, x.to(torch::kBFloat16).to(torch::kFloat32)));
  EXPECT_EQ(file.load("x").scalar_type(), torch::kBFloat16);
}

TEST(SafetensorsIo, BoolBytesOtherThanZeroOrOneReadAsTrue) {
  TempDir tmp;
  write_bytes(tmp / "b.safetensors",
              safetensors_bytes(R"({"b":{"dtype":"BOOL","shape":[3],"data_offsets":[0,3]}})") +
                  std::string("\x00\x07\x01", 3));
  auto b = SafetensorsFile(tmp / "b.safetensors").load("b");
  EXPECT_TRUE(torch::equal(b, torch::tensor({false, true, true})));
}

TEST(SafetensorsIo, UnsupportedDtypeNamesFileAndTensor) {
  TempDir tmp;
  write_bytes(
      tmp / "f8.safetensors",
      safetensors_bytes(R"({"w":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}})", 2));
  SafetensorsFile file(tmp / "f8.safetensors");  // the header itself is valid
  auto msg = data_error_of([&] { file.load("w"); });
  EXPECT_TRUE(Contains(msg, "f8.safetensors: tensor 'w': dtype F8_E4M3 cannot be read"));
  EXPECT_TRUE(Contains(data_error_of([&] { file.load("nope"); }), "no tensor named 'nope'"));
}

TEST(SafetensorsIo, TruncatedFileNamesTheTensorCut) {
  TempDir tmp;
  write_safetensors(tmp / "x.safetensors", {{"a", torch::ones({8})}, {"b", torch::ones({8})}});
  auto bytes = read_bytes(tmp / "x.safetensors");
  write_bytes(tmp / "x.safetensors", bytes.substr(0, bytes.size() - 5));
  auto msg = data_error_of([&] { SafetensorsFile file(tmp / "x.safetensors"); });
  EXPECT_TRUE(Contains(msg, "x.safetensors: tensor 'b': data_offsets [32, 64] reach past"));
  EXPECT_TRUE(Contains(msg, "truncated"));
  write_bytes(tmp / "x.safetensors", bytes.substr(0, 20));  // cut inside the header
  EXPECT_TRUE(Contains(data_error_of([&] { SafetensorsFile file(tmp / "x.safetensors"); }),
                       "reaches past the end of the file (20 bytes"));
}

TEST(SafetensorsIo, MapOfMissingEmptyOrDirectory) {
  TempDir tmp;
  auto missing = tmp / "missing.safetensors";
  auto msg = data_error_of([&] { MappedFile map(missing); });
  EXPECT_TRUE(Contains(msg, "cannot open '" + missing + "': No such file or directory"));
  write_bytes(tmp / "empty.safetensors", "");
  MappedFile empty(tmp / "empty.safetensors");
  EXPECT_EQ(empty.size(), 0u);
  EXPECT_EQ(empty.data(), nullptr);
  EXPECT_TRUE(Contains(data_error_of([&] { SafetensorsFile file(tmp / "empty.safetensors"); }),
                       "empty.safetensors: file is 0 bytes; expected at least 8"));
  EXPECT_TRUE(Contains(data_error_of([&] { MappedFile map(tmp.path().string()); }),
                       "is not a regular file"));
}

TEST(SafetensorsIo, MappedFileMovesOwnership) {
  TempDir tmp;
  write_bytes(tmp / "f", "0123456789");
  MappedFile a(tmp / "f");
  MappedFile b(std::move(a));
  EXPECT_EQ(b.size(), 10u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(b.data()), 4), "0123");
  EXPECT_EQ(a.data(), nullptr);  // NOLINT(bugprone-use-after-move): moved-from is empty
}

TEST(SafetensorsIo, WriterRejectsBadInput) {
  TempDir tmp;
  EXPECT_TRUE(Contains(data_error_of([&] {
                         write_safetensors(tmp / "x.safetensors", {{"u", torch::Tensor()}});
                       }),
                       "tensor 'u' is undefined"));
  EXPECT_TRUE(Contains(
      data_error_of([&] {
        write_safetensors(tmp / "x.safetensors", {{"w", torch::ones(1)}, {"w", torch::ones(1)}});
      }),
      "given twice"));
  EXPECT_TRUE(Contains(
      data_error_of([&] {
        write_safetensors(tmp / "x.safetensors", {{"c", torch::ones(2, torch::kComplexFloat)}});
      }),
      "x.safetensors: tensor 'c': torch dtype ComplexFloat cannot be stored"));
  EXPECT_TRUE(
      Contains(data_error_of([&] {
                 write_safetensors(tmp / "no/such/dir/x.safetensors", {{"w", torch::ones(1)}});
               }),
               "cannot create"));
}

TEST(SafetensorsShards, PlanFollowsHuggingfaceHub) {
  // Fill in order; a tensor that would tip a shard over starts the next; one larger than the
  // limit gets its own shard, placed before the shard being filled.
  auto plan = plan_safetensors_shards({40, 40, 30, 250, 10, 100}, 100);
  std::vector<std::vector<size_t>> expected = {{0, 1}, {3}, {2, 4}, {5}};
  EXPECT_EQ(plan, expected);
  EXPECT_EQ(plan_safetensors_shards({}, 100), (std::vector<std::vector<size_t>>{{}}));
}

TEST(SafetensorsShards, WritesShardsAndIndexAndReadsThemBack) {
  TempDir tmp;
  NamedTensors tensors;
  for (int i = 0; i < 5; ++i)
    tensors.emplace_back("w" + std::to_string(i), torch::randn({10}));
  SafetensorsWriteOptions options;
  options.max_shard_bytes = 100;  // 40-byte tensors: two per shard
  std::vector<std::string> seen;
  options.after_file_written = [&](const std::string& path) { seen.push_back(path); };
  auto files = write_safetensors_model(tmp.path().string(), tensors, options);
  std::vector<std::string> expected = {
      "model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
      "model-00003-of-00003.safetensors", "model.safetensors.index.json"};
  EXPECT_EQ(files, expected);
  EXPECT_EQ(seen.size(), 4u);

  auto index = parse_safetensors_index(read_bytes(tmp / "model.safetensors.index.json"), "index");
  EXPECT_EQ(index.total_size, 200u);
  EXPECT_EQ(index.total_parameters, 50u);
  EXPECT_EQ(index.weight_map.at("w4"), "model-00003-of-00003.safetensors");

  SafetensorsSet set(tmp / "model.safetensors.index.json");
  EXPECT_EQ(set.names().size(), 5u);
  EXPECT_EQ(set.files().size(), 3u);
  for (const auto& [name, t] : tensors)
    EXPECT_TRUE(torch::equal(set.load(name), t)) << name;
  EXPECT_TRUE(Contains(set.file_of("w2"), "model-00002-of-00003.safetensors"));
}

TEST(SafetensorsShards, OneShardIsModelSafetensorsWithoutIndex) {
  TempDir tmp;
  auto files = write_safetensors_model(tmp.path().string(), {{"w", torch::ones({3})}});
  EXPECT_EQ(files, std::vector<std::string>{"model.safetensors"});
  EXPECT_FALSE(fs::exists(tmp / "model.safetensors.index.json"));
  SafetensorsSet set(tmp / "model.safetensors");
  EXPECT_TRUE(set.contains("w"));
}

TEST(SafetensorsShards, MissingShardNamesShardAndTensor) {
  TempDir tmp;
  write_safetensors(tmp / "a.safetensors", {{"x", torch::ones(2)}});
  write_bytes(tmp / "model.safetensors.index.json",
              R"({"weight_map": {"x": "a.safetensors", "y": "gone.safetensors"}})");
  auto msg = data_error_of([&] { SafetensorsSet set(tmp / "model.safetensors.index.json"); });
  EXPECT_TRUE(Contains(msg,
                       "model.safetensors.index.json: tensor 'y' is in shard "
                       "'gone.safetensors', but "));
  EXPECT_TRUE(Contains(msg, "gone.safetensors does not exist"));
}

TEST(SafetensorsShards, TensorAbsentFromItsShardNamesBoth) {
  TempDir tmp;
  write_safetensors(tmp / "a.safetensors", {{"x", torch::ones(2)}});
  write_bytes(tmp / "model.safetensors.index.json",
              R"({"weight_map": {"x": "a.safetensors", "y": "a.safetensors"}})");
  auto msg = data_error_of([&] { SafetensorsSet set(tmp / "model.safetensors.index.json"); });
  EXPECT_TRUE(Contains(msg, "lists tensor 'y' in shard 'a.safetensors', but "));
  EXPECT_TRUE(Contains(msg, "a.safetensors has no tensor of that name"));
}

TEST(SafetensorsShards, MalformedIndex) {
  auto error = [](const std::string& text) {
    return data_error_of([&] { parse_safetensors_index(text, "idx.json"); });
  };
  EXPECT_TRUE(Contains(error("{"), "idx.json: not valid JSON"));
  EXPECT_TRUE(Contains(error("[]"), "idx.json: expected a JSON object"));
  EXPECT_TRUE(Contains(error(R"({"metadata": {}})"), "expected a 'weight_map' object"));
  EXPECT_TRUE(Contains(error(R"({"weight_map": {}})"), "weight_map is empty"));
  EXPECT_TRUE(Contains(error(R"({"weight_map": {"x": 3}})"),
                       "weight_map entry for tensor 'x' must be a file name string"));
  for (const char* bad : {"../x.safetensors", "/etc/passwd", "..", ""}) {
    EXPECT_TRUE(Contains(error(std::string(R"({"weight_map": {"x": ")") + bad + "\"}}"),
                         "expected a plain file name in the same directory"))
        << bad;
  }
}

}  // namespace
}  // namespace fusebox::io::testing
