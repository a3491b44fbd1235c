// The torch-free header parser on hand-made bytes: what a valid header yields, and that
// every kind of malformed header is a DataError naming the file, the tensor and what was
// expected.
#include <gtest/gtest.h>

#include "io/safetensors_header.h"
#include "io_test_util.h"

namespace fusebox::io::testing {
namespace {

const std::string kFile = "shard.safetensors";

SafetensorsHeader parse(const std::string& bytes) {
  return parse_safetensors_header(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(),
                                  kFile);
}

// The error for a header `json` followed by `data_size` bytes.
std::string header_error(const std::string& json, size_t data_size = 64) {
  return data_error_of([&] { parse(safetensors_bytes(json, data_size)); });
}

TEST(SafetensorsHeader, ParsesTensorsMetadataAndOffsets) {
  std::string json = R"({"__metadata__":{"format":"pt"},)"
                     R"("b":{"dtype":"BF16","shape":[2,3],"data_offsets":[16,28]},)"
                     R"("a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                     R"("s":{"dtype":"I64","shape":[],"data_offsets":[28,36]},)"
                     R"("e":{"dtype":"F16","shape":[0,5],"data_offsets":[36,36]}})";
  auto h = parse(safetensors_bytes(json, 36));
  ASSERT_EQ(h.tensors.size(), 4u);
  EXPECT_EQ(h.tensors[0].name, "a");  // sorted by name for find()
  EXPECT_EQ(h.metadata.at("format"), "pt");
  EXPECT_EQ(h.data_offset, 8 + json.size());
  EXPECT_EQ(h.data_size, 36u);
  const auto* b = h.find("b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->dtype, "BF16");
  EXPECT_EQ(b->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(b->begin, 16u);
  EXPECT_EQ(b->nbytes(), 12u);
  EXPECT_TRUE(h.find("s")->shape.empty());  // a scalar: one element
  EXPECT_EQ(h.find("e")->nbytes(), 0u);
  EXPECT_EQ(h.find("zz"), nullptr);
}

TEST(SafetensorsHeader, AcceptsNullMetadataGapsAndPadding) {
  auto h = parse(safetensors_bytes(
      R"({"__metadata__":null,"a":{"dtype":"U8","shape":[2],"data_offsets":[4,6]}}      )", 8));
  EXPECT_TRUE(h.metadata.empty());
  EXPECT_EQ(h.find("a")->begin, 4u);
}

TEST(SafetensorsHeader, ShortFileNamesTheExpectedLength) {
  for (size_t n : {0, 1, 7}) {
    auto msg = data_error_of([&] { parse(std::string(n, '\0')); });
    EXPECT_TRUE(Contains(msg, kFile + ": file is " + std::to_string(n) + " bytes"));
    EXPECT_TRUE(Contains(msg, "expected at least 8"));
  }
}

TEST(SafetensorsHeader, LengthBeyondFileIsTruncation) {
  auto bytes = safetensors_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 4);
  bytes[0] = static_cast<char>(0xff);  // claims a 255+-byte header in a ~70-byte file
  auto msg = data_error_of([&] { parse(bytes); });
  EXPECT_TRUE(Contains(msg, kFile + ": header length"));
  EXPECT_TRUE(Contains(msg, "reaches past the end of the file"));
}

TEST(SafetensorsHeader, HugeLengthIsRejectedBeforeAnyAllocation) {
  std::string bytes(16, '\xff');  // length 2^64 - 1
  auto msg = data_error_of([&] { parse(bytes); });
  EXPECT_TRUE(Contains(msg, "exceeds the 100000000-byte limit"));
}

TEST(SafetensorsHeader, InvalidJsonAndNonObject) {
  EXPECT_TRUE(Contains(header_error(R"({"a": )"), kFile + ": header is not valid JSON"));
  EXPECT_TRUE(Contains(header_error(""), "not valid JSON"));
  EXPECT_TRUE(Contains(header_error("{\"\xff\":1}"), "not valid JSON"));  // not UTF-8
  EXPECT_TRUE(Contains(header_error("[1, 2]"), "header must be a JSON object"));
  EXPECT_TRUE(Contains(header_error(R"({"a":[1]})"),
                       "tensor 'a': expected an object {\"dtype\", \"shape\", \"data_offsets\"}"));
}

TEST(SafetensorsHeader, MissingOrMistypedKeys) {
  EXPECT_TRUE(Contains(header_error(R"({"w":{"shape":[1],"data_offsets":[0,4]}})"),
                       kFile + ": tensor 'w': missing key 'dtype'"));
  EXPECT_TRUE(Contains(header_error(R"({"w":{"dtype":"F32","data_offsets":[0,4]}})"),
                       "tensor 'w': missing key 'shape'"));
  EXPECT_TRUE(Contains(header_error(R"({"w":{"dtype":"F32","shape":[1]}})"),
                       "tensor 'w': missing key 'data_offsets'"));
  EXPECT_TRUE(Contains(header_error(R"({"w":{"dtype":4,"shape":[1],"data_offsets":[0,4]}})"),
                       "tensor 'w': dtype must be a string"));
  EXPECT_TRUE(Contains(header_error(R"({"w":{"dtype":"F32","shape":1,"data_offsets":[0,4]}})"),
                       "tensor 'w': shape must be an array"));
  EXPECT_TRUE(Contains(header_error(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0]}})"),
                       "tensor 'w': data_offsets must be an array [begin, end]"));
  EXPECT_TRUE(Contains(header_error(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}})"),
                       "data_offsets must be an array [begin, end]"));
}

TEST(SafetensorsHeader, UnknownDtypeListsTheKnownOnes) {
  auto msg = header_error(R"({"w":{"dtype":"F31","shape":[1],"data_offsets":[0,4]}})");
  EXPECT_TRUE(Contains(msg, kFile + ": tensor 'w': unknown dtype 'F31'; expected one of"));
  EXPECT_TRUE(Contains(msg, "BF16"));
}

TEST(SafetensorsHeader, BadShapeEntries) {
  EXPECT_TRUE(Contains(header_error(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})"),
                       "tensor 'w': every shape entry must be a non-negative integer, got -1"));
  EXPECT_TRUE(Contains(header_error(R"({"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})"),
                       "tensor 'w': every shape entry must be a non-negative integer, got 1.5"));
  EXPECT_TRUE(Contains(header_error(R"({"w":{"dtype":"F32","shape":["2"],"data_offsets":[0,8]}})"),
                       "must be a non-negative integer, got '2'"));
  EXPECT_TRUE(Contains(
      header_error(R"({"w":{"dtype":"U8","shape":[18446744073709551615],"data_offsets":[0,1]}})"),
      "tensor 'w': shape entry 18446744073709551615 does not fit int64"));
}

TEST(SafetensorsHeader, SizeOverflowIsCaught) {
  // 2^32 * 2^32 elements: numel overflows int64.
  EXPECT_TRUE(Contains(
      header_error(R"({"w":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,0]}})"),
      "tensor 'w': shape [4294967296, 4294967296] has sizes whose product overflows int64"));
  // ... whatever their order, even in an empty tensor.
  EXPECT_TRUE(Contains(
      header_error(
          R"({"w":{"dtype":"U8","shape":[4294967296,4294967296,0],"data_offsets":[0,0]}})"),
      "product overflows int64"));
  // 2^62 elements fit int64, but 2^62 * 8 bytes do not fit uint64.
  EXPECT_TRUE(Contains(
      header_error(R"({"w":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,0]}})"),
      "tensor 'w': F64 x shape [4611686018427387904] needs more bytes than fit in uint64"));
  // A zero dimension makes any other size harmless.
  auto h = parse(safetensors_bytes(
      R"({"w":{"dtype":"F64","shape":[0,9223372036854775807],"data_offsets":[0,0]}})", 0));
  EXPECT_EQ(h.find("w")->nbytes(), 0u);
}

TEST(SafetensorsHeader, OffsetsMustMatchDtypeTimesShape) {
  auto msg = header_error(R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}})");
  EXPECT_TRUE(Contains(msg, kFile + ": tensor 'w': data_offsets [0, 20] hold 20 bytes, but "
                                    "dtype F32 x shape [2, 3] needs 24 bytes"));
  EXPECT_TRUE(Contains(header_error(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})"),
                       "tensor 'w': data_offsets [8, 4] end before they begin"));
  EXPECT_TRUE(Contains(header_error(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})"),
                       "tensor 'w': data_offsets begin must be a non-negative integer"));
}

TEST(SafetensorsHeader, OffsetsBeyondDataAreTruncation) {
  auto msg =
      header_error(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", /*data_size=*/12);
  EXPECT_TRUE(Contains(msg, kFile + ": tensor 'w': data_offsets [0, 16] reach past the end of "
                                    "the data section (12 bytes)"));
  EXPECT_TRUE(Contains(msg, "truncated"));
}

TEST(SafetensorsHeader, OverlappingTensorsNameBoth) {
  auto msg = header_error(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                          R"("b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}})");
  EXPECT_TRUE(Contains(msg, kFile + ": tensor 'b' (bytes [12, 20)) overlaps tensor 'a' (bytes "
                                    "[0, 16)); expected disjoint data_offsets"));
  // Identical ranges overlap too; empty tensors overlap nothing.
  EXPECT_TRUE(Contains(header_error(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                                    R"("b":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}})"),
                       "overlaps"));
  EXPECT_NO_THROW(parse(safetensors_bytes(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                                          R"("b":{"dtype":"U8","shape":[0],"data_offsets":[2,2]}})",
                                          4)));
}

TEST(SafetensorsHeader, DuplicateNamesAndKeys) {
  EXPECT_TRUE(Contains(header_error(R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                                    R"("w":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})"),
                       kFile + ": tensor name 'w' appears twice"));
  EXPECT_TRUE(Contains(
      header_error(R"({"w":{"dtype":"U8","dtype":"F32","shape":[1],"data_offsets":[0,1]}})"),
      kFile + ": tensor 'w': key 'dtype' appears twice in its entry"));
}

TEST(SafetensorsHeader, MetadataMustBeStringToString) {
  EXPECT_TRUE(Contains(header_error(R"({"__metadata__":[1]})"),
                       kFile + ": __metadata__ must be an object of string -> string"));
  EXPECT_TRUE(Contains(header_error(R"({"__metadata__":{"format":1}})"),
                       kFile + ": __metadata__ key 'format' must have a string value, got 1"));
}

TEST(SafetensorsHeader, HostileLongNamesAreShortenedInMessages) {
  std::string name(5000, 'x');
  auto msg = header_error("{\"" + name + "\":1}");
  EXPECT_TRUE(Contains(msg, "...' (5000 bytes)"));
  EXPECT_LT(msg.size(), 400u);
}

TEST(SafetensorsHeader, SerializeThenParseRoundTrips) {
  std::vector<SafetensorsTensorInfo> tensors = {
      {"z", "F32", {3}, 0, 0}, {"a.weight", "BF16", {2, 5}, 0, 0}, {"flag", "BOOL", {}, 0, 0}};
  uint64_t data = layout_safetensors_tensors(tensors, kFile);
  EXPECT_EQ(data, 12u + 20u + 1u);
  std::string bytes = serialize_safetensors_header(tensors, {{"format", "pt"}});
  EXPECT_EQ(bytes.size() % 8, 0u);  // data starts 8-byte aligned
  EXPECT_EQ(bytes.back(), ' ');     // padded with spaces, as the Rust writer does
  auto h = parse(bytes + std::string(data, '\0'));
  EXPECT_EQ(h.data_offset, bytes.size());
  EXPECT_EQ(h.metadata.at("format"), "pt");
  for (const auto& t : tensors) {
    const auto* got = h.find(t.name);
    ASSERT_NE(got, nullptr) << t.name;
    EXPECT_EQ(got->dtype, t.dtype);
    EXPECT_EQ(got->shape, t.shape);
    EXPECT_EQ(got->begin, t.begin);
    EXPECT_EQ(got->end, t.end);
  }
}

TEST(SafetensorsHeader, SerializeRejectsReservedAndDuplicateNames) {
  std::vector<SafetensorsTensorInfo> reserved = {{"__metadata__", "F32", {1}, 0, 4}};
  EXPECT_TRUE(
      Contains(data_error_of([&] { serialize_safetensors_header(reserved, {}); }), "reserved"));
  std::vector<SafetensorsTensorInfo> twice = {{"w", "F32", {1}, 0, 4}, {"w", "F32", {1}, 4, 8}};
  EXPECT_TRUE(Contains(data_error_of([&] { serialize_safetensors_header(twice, {}); }),
                       "tensor name 'w' given twice"));
  std::vector<SafetensorsTensorInfo> negative = {{"w", "F32", {-2}, 0, 0}};
  EXPECT_TRUE(Contains(data_error_of([&] { layout_safetensors_tensors(negative, kFile); }),
                       "tensor 'w': shape [-2] has a negative size"));
}

}  // namespace
}  // namespace fusebox::io::testing
