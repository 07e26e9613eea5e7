#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>

#include "io/files.hpp"
#include "io/safetensors.hpp"
#include "io_test_support.hpp"

namespace bertscope::io {
namespace {

using testing::bytes_of;
using testing::Contains;
using testing::error_of;
using testing::read_raw;
using testing::StartsWith;
using testing::TempDir;
using testing::write_raw;

std::string le64(std::uint64_t v) {
  std::string out(8, '\0');
  std::memcpy(out.data(), &v, 8);
  return out;
}

// A safetensors file assembled by hand, so tests can make it lie in any way.
std::string raw_file(const std::string& header, const std::string& buffer) {
  return le64(header.size()) + header + buffer;
}

template <typename T>
std::vector<T> values_of(const TensorRecord& r) {
  std::vector<T> out(r.nbytes / sizeof(T));
  std::memcpy(out.data(), r.data, r.nbytes);
  return out;
}

class SafetensorsErrors : public ::testing::Test {
 protected:
  // Writes `content`, opens it, and returns the format error's message.
  std::string open_error(const std::string& content) {
    write_raw(file_, content);
    std::string message = error_of(ErrorKind::format, [&] { SafetensorsFile f(file_); });
    EXPECT_TRUE(StartsWith(message, file_.string() + ": "));
    return message;
  }
  // A header holding one entry for tensor "t", with a 16-byte buffer.
  std::string with_tensor(const std::string& entry, const std::string& buffer = std::string(16, 'x')) {
    return open_error(raw_file("{\"t\":" + entry + "}", buffer));
  }

  TempDir dir_;
  std::filesystem::path file_ = dir_ / "model.safetensors";
};

TEST(SafetensorsRoundTrip, EveryDTypeShapeAndMetadata) {
  TempDir dir;
  const auto path = dir / "all.safetensors";
  std::vector<double> f64{1.5, -2.25, 1e300};
  std::vector<float> f32{0.f, -1.f, 3.5f, 1e-30f, 7.f, 8.f};
  std::vector<std::uint16_t> f16{0x3C00, 0xC000};    // 1.0, -2.0
  std::vector<std::uint16_t> bf16{0x3F80, 0x4049};   // 1.0, 3.140625
  std::vector<std::int64_t> i64{-(std::int64_t{1} << 62), 42};
  std::vector<std::int32_t> i32{-7};
  std::vector<std::int16_t> i16{-32768, 32767, 0};
  std::vector<std::int8_t> i8{-128, 127};
  std::vector<std::uint8_t> u8{0, 255, 17};
  std::vector<std::uint8_t> boolean{1, 0, 1, 1};
  std::vector<float> empty;
  std::vector<TensorToWrite> tensors{
      {"encoder.layer.0.weight", DType::f32, {2, 3}, bytes_of(f32)},
      {"f64", DType::f64, {3}, bytes_of(f64)},
      {"f16", DType::f16, {2}, bytes_of(f16)},
      {"bf16", DType::bf16, {1, 2}, bytes_of(bf16)},
      {"i64", DType::i64, {2}, bytes_of(i64)},
      {"scalar_i32", DType::i32, {}, bytes_of(i32)},
      {"i16", DType::i16, {3}, bytes_of(i16)},
      {"i8", DType::i8, {2}, bytes_of(i8)},
      {"u8", DType::u8, {3, 1}, bytes_of(u8)},
      {"mask", DType::boolean, {2, 2}, bytes_of(boolean)},
      {"empty", DType::f32, {0, 768}, bytes_of(empty)},
  };
  const std::map<std::string, std::string> metadata{{"format", "pt"}, {"note", "caf\xC3\xA9 \"quoted\""}};
  write_safetensors(path, tensors, metadata);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"all.safetensors"});

  SafetensorsFile file(path);
  EXPECT_EQ(file.path(), path);
  EXPECT_EQ(file.metadata(), metadata);
  std::vector<std::string> names = file.names();
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  ASSERT_EQ(names.size(), tensors.size());
  for (const TensorToWrite& t : tensors) {
    ASSERT_TRUE(file.contains(t.name)) << t.name;
    const TensorRecord& r = file.get(t.name);
    EXPECT_EQ(r.name, t.name);
    EXPECT_EQ(r.dtype, t.dtype) << t.name;
    EXPECT_EQ(r.shape, t.shape) << t.name;
    ASSERT_EQ(r.nbytes, t.bytes.size()) << t.name;
    if (r.nbytes > 0) {
      EXPECT_EQ(std::memcmp(r.data, t.bytes.data(), r.nbytes), 0) << t.name;
    }
  }
  EXPECT_EQ(values_of<double>(file.get("f64")), f64);
  EXPECT_EQ(values_of<std::int16_t>(file.get("i16")), i16);
  EXPECT_FALSE(file.contains("missing"));
}

TEST(SafetensorsRoundTrip, LayoutMatchesTheReferenceWriter) {
  TempDir dir;
  const auto path = dir / "layout.safetensors";
  std::vector<float> a{1, 2, 3};
  std::vector<std::int64_t> b{4};
  write_safetensors(path, {{"z_first", DType::f32, {3}, bytes_of(a)}, {"a_second", DType::i64, {1}, bytes_of(b)}},
                    {{"format", "pt"}});
  const std::string raw = read_raw(path);
  std::uint64_t n = 0;
  std::memcpy(&n, raw.data(), 8);
  EXPECT_EQ(n % 8, 0u) << "header padded to a multiple of 8";
  const std::string header = raw.substr(8, n);
  // Padding is spaces after the JSON, exactly as safetensors' Rust writer does it.
  EXPECT_EQ(header,
            "{\"__metadata__\":{\"format\":\"pt\"},"
            "\"z_first\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]},"
            "\"a_second\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[12,20]}}" +
                std::string((8 - (header.find_last_of('}') + 1) % 8) % 8, ' '));
  EXPECT_EQ(raw.size(), 8 + n + 20);
  EXPECT_EQ(std::memcmp(raw.data() + 8 + n, a.data(), 12), 0);
}

TEST(SafetensorsRoundTrip, EmptyFileHasEmptyHeader) {
  TempDir dir;
  write_safetensors(dir / "none.safetensors", {});
  EXPECT_EQ(read_raw(dir / "none.safetensors"), le64(8) + "{}      ");
  SafetensorsFile file(dir / "none.safetensors");
  EXPECT_TRUE(file.names().empty());
  EXPECT_TRUE(file.metadata().empty());
}

TEST(SafetensorsRoundTrip, ReplacesAnExistingFileAtomically) {
  TempDir dir;
  const auto path = dir / "w.safetensors";
  std::vector<float> v{1, 2};
  write_safetensors(path, {{"v", DType::f32, {2}, bytes_of(v)}});
  const std::string before = read_raw(path);
  // A writer error must leave the old file as it was and no temporary file behind.
  std::string message = error_of(ErrorKind::internal, [&] {
    write_safetensors(path, {{"v", DType::f32, {3}, bytes_of(v)}});
  });
  EXPECT_TRUE(Contains(message, path.string()));
  EXPECT_TRUE(Contains(message, "\"v\""));
  EXPECT_EQ(read_raw(path), before);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"w.safetensors"});
  error_of(ErrorKind::internal, [&] {
    write_safetensors(path, {{"v", DType::f32, {2}, bytes_of(v)}, {"v", DType::f32, {2}, bytes_of(v)}});
  });
  error_of(ErrorKind::internal, [&] { write_safetensors(path, {{"__metadata__", DType::f32, {2}, bytes_of(v)}}); });
  error_of(ErrorKind::internal, [&] { write_safetensors(path, {{"neg", DType::f32, {-2}, bytes_of(v)}}); });
  error_of(ErrorKind::input, [&] { write_safetensors(path, {{"bad\xff", DType::f32, {2}, bytes_of(v)}}); });
  error_of(ErrorKind::input, [&] { write_safetensors(path, {}, {{"k", "bad\xC3"}}); });
  EXPECT_EQ(read_raw(path), before);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"w.safetensors"});
  error_of(ErrorKind::io, [&] { write_safetensors(dir / "no" / "dir.safetensors", {}); });
}

TEST(SafetensorsRoundTrip, DataMayBeUnaligned) {
  TempDir dir;
  // An I8 tensor of odd length first puts the F32 data at an odd offset: allowed by the format.
  std::vector<std::int8_t> odd{1, 2, 3};
  std::vector<float> f{1.25f, -8.f};
  write_safetensors(dir / "u.safetensors", {{"odd", DType::i8, {3}, bytes_of(odd)}, {"f", DType::f32, {2}, bytes_of(f)}});
  SafetensorsFile file(dir / "u.safetensors");
  EXPECT_EQ(values_of<float>(file.get("f")), f);
}

TEST(SafetensorsRoundTrip, DTypeNamesAndSizes) {
  const std::pair<DType, std::pair<const char*, std::size_t>> expected[] = {
      {DType::f64, {"F64", 8}}, {DType::f32, {"F32", 4}}, {DType::f16, {"F16", 2}}, {DType::bf16, {"BF16", 2}},
      {DType::i64, {"I64", 8}}, {DType::i32, {"I32", 4}}, {DType::i16, {"I16", 2}}, {DType::i8, {"I8", 1}},
      {DType::u8, {"U8", 1}},   {DType::boolean, {"BOOL", 1}}};
  for (const auto& [dtype, name_size] : expected) {
    EXPECT_EQ(dtype_name(dtype), name_size.first);
    EXPECT_EQ(dtype_size(dtype), name_size.second);
  }
}

TEST(SafetensorsMappedFile, MapsAndReportsErrors) {
  TempDir dir;
  write_raw(dir / "f.bin", "hello");
  MappedFile mapped(dir / "f.bin");
  ASSERT_EQ(mapped.size(), 5u);
  EXPECT_EQ(std::memcmp(mapped.data(), "hello", 5), 0);
  write_raw(dir / "empty.bin", "");
  MappedFile empty(dir / "empty.bin");
  EXPECT_EQ(empty.size(), 0u);
  std::string message = error_of(ErrorKind::io, [&] { MappedFile m(dir / "missing.bin"); });
  EXPECT_TRUE(Contains(message, (dir / "missing.bin").string()));
  message = error_of(ErrorKind::io, [&] { MappedFile m(dir.path()); });
  EXPECT_TRUE(Contains(message, dir.path().string()));
  error_of(ErrorKind::io, [&] { SafetensorsFile f(dir / "missing.safetensors"); });
}

TEST(SafetensorsRoundTrip, MissingTensorNamesFileAndTensor) {
  TempDir dir;
  write_safetensors(dir / "m.safetensors", {});
  SafetensorsFile file(dir / "m.safetensors");
  std::string message = error_of(ErrorKind::model, [&] { file.get("bert.pooler.dense.weight"); });
  EXPECT_TRUE(Contains(message, (dir / "m.safetensors").string()));
  EXPECT_TRUE(Contains(message, "\"bert.pooler.dense.weight\""));
}

TEST_F(SafetensorsErrors, FileShorterThanEightBytes) {
  EXPECT_TRUE(Contains(open_error(""), "0 bytes"));
  EXPECT_TRUE(Contains(open_error("abcde"), "5 bytes, too short"));
}

TEST_F(SafetensorsErrors, HeaderLengthBeyondTheFile) {
  EXPECT_TRUE(Contains(open_error(le64(100) + "{}"), "header length 100 runs past the end of the 10-byte file"));
  EXPECT_TRUE(Contains(open_error(le64(1)), "header length 1 runs past"));
}

TEST_F(SafetensorsErrors, HeaderLengthAbsurd) {
  EXPECT_TRUE(Contains(open_error(le64(std::uint64_t{1} << 63) + "{}"), "exceeds the 100000000-byte limit"));
  EXPECT_TRUE(Contains(open_error(le64(~std::uint64_t{0}) + "{}"), "exceeds"));
  // A text file opened by mistake: its first 8 bytes make a huge length.
  EXPECT_TRUE(Contains(open_error("{\"architectures\": [\"BertModel\"]}"), "exceeds"));
}

TEST_F(SafetensorsErrors, HeaderNotJson) {
  EXPECT_TRUE(Contains(open_error(raw_file("{abc", "")), "header is not valid JSON"));
  EXPECT_TRUE(Contains(open_error(raw_file("", "")), "header is not valid JSON"));
  EXPECT_TRUE(Contains(open_error(raw_file("{\"t\": \"\xff\"}", "")), "header is not valid JSON"));
  EXPECT_TRUE(Contains(open_error(raw_file(std::string("{}\0\0\0\0\0\0", 8), "")), "header is not valid JSON"));
  EXPECT_TRUE(Contains(open_error(raw_file(std::string(20, '[') + std::string(20, ']'), "")), "deeper than"));
  // Control characters from the file do not break the message into lines.
  open_error(raw_file("{\n\n\"a\"\n:\x01}", ""));
}

TEST_F(SafetensorsErrors, HeaderNotAnObject) {
  EXPECT_TRUE(Contains(open_error(raw_file("[1, 2]  ", "")), "is a JSON array, expected an object"));
  EXPECT_TRUE(Contains(open_error(raw_file("42      ", "")), "is a JSON number"));
  EXPECT_TRUE(Contains(open_error(raw_file("\"text\"", "")), "is a JSON string"));
}

TEST_F(SafetensorsErrors, EntryNotAnObject) {
  EXPECT_TRUE(Contains(with_tensor("[1]"), "tensor \"t\": entry is a JSON array"));
}

TEST_F(SafetensorsErrors, BadMetadata) {
  EXPECT_TRUE(Contains(open_error(raw_file("{\"__metadata__\": [1]}", "")), "\"__metadata__\" is a JSON array"));
  EXPECT_TRUE(Contains(open_error(raw_file("{\"__metadata__\": {\"epochs\": 3}}", "")),
                       "\"__metadata__\" entry \"epochs\" is a JSON number, expected a string"));
}

TEST_F(SafetensorsErrors, UnknownDType) {
  std::string message = with_tensor(R"({"dtype":"F8_E4M3","shape":[16],"data_offsets":[0,16]})");
  EXPECT_TRUE(Contains(message, "tensor \"t\": unknown dtype \"F8_E4M3\""));
  EXPECT_TRUE(Contains(with_tensor(R"({"dtype":"f32","shape":[4],"data_offsets":[0,16]})"), "unknown dtype \"f32\""));
  EXPECT_TRUE(Contains(with_tensor(R"({"dtype":4,"shape":[4],"data_offsets":[0,16]})"), "\"dtype\" is missing"));
  EXPECT_TRUE(Contains(with_tensor(R"({"shape":[4],"data_offsets":[0,16]})"), "\"dtype\" is missing"));
}

TEST_F(SafetensorsErrors, BadShape) {
  const char* bad_shapes[] = {"[-4]", "[4.0]", "[2.5]", "[\"4\"]", "[null]", "[true]", "[1e3]",
                              "[18446744073709551616]", "[9223372036854775808]"};
  for (const char* shape : bad_shapes) {
    std::string message = with_tensor(std::string(R"({"dtype":"F32","shape":)") + shape + R"(,"data_offsets":[0,16]})");
    EXPECT_TRUE(Contains(message, "tensor \"t\": shape")) << shape;
    EXPECT_TRUE(Contains(message, "not a non-negative integer")) << shape;
  }
  EXPECT_TRUE(Contains(with_tensor(R"({"dtype":"F32","shape":4,"data_offsets":[0,16]})"), "\"shape\" is missing or not an array"));
  EXPECT_TRUE(Contains(with_tensor(R"({"dtype":"F32","data_offsets":[0,16]})"), "\"shape\" is missing"));
}

TEST_F(SafetensorsErrors, ShapeWhoseElementCountOverflows) {
  EXPECT_TRUE(Contains(with_tensor(R"({"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,16]})"),
                       "more elements than fit"));
  // numel fits in 64 bits but numel x 8 bytes does not.
  EXPECT_TRUE(Contains(with_tensor(R"({"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,16]})"),
                       "more elements than fit"));
  // A zero dimension does not excuse an overflowing product before it... nor after it.
  EXPECT_TRUE(Contains(with_tensor(R"({"dtype":"U8","shape":[0,4294967296,4294967296],"data_offsets":[0,16]})"),
                       "data_offsets [0, 16] hold 16 bytes, but shape [0, 4294967296, 4294967296] of U8 needs 0"));
}

TEST_F(SafetensorsErrors, MalformedDataOffsets) {
  const char* bad_offsets[] = {"[0]", "[0,8,16]", "[-1,16]", "[0,16.0]", "\"0-16\"", "[0,\"16\"]", "null", "{}"};
  for (const char* offsets : bad_offsets) {
    std::string message = with_tensor(std::string(R"({"dtype":"F32","shape":[4],"data_offsets":)") + offsets + "}");
    EXPECT_TRUE(Contains(message, "tensor \"t\": \"data_offsets\" must be [begin, end]")) << offsets;
  }
  EXPECT_TRUE(Contains(with_tensor(R"({"dtype":"F32","shape":[4]})"), "found nothing"));
  EXPECT_TRUE(Contains(with_tensor(R"({"dtype":"F32","shape":[0],"data_offsets":[16,0]})"), "end before they begin"));
}

TEST_F(SafetensorsErrors, DataOffsetsBeyondTheBuffer) {
  std::string message = with_tensor(R"({"dtype":"F32","shape":[8],"data_offsets":[0,32]})");
  EXPECT_TRUE(Contains(message, "tensor \"t\": data_offsets [0, 32] run past the 16-byte data buffer"));
  message = with_tensor(R"({"dtype":"F32","shape":[1],"data_offsets":[18446744073709551612,18446744073709551615]})");
  EXPECT_TRUE(Contains(message, "run past"));
}

TEST_F(SafetensorsErrors, SizeDisagreesWithShapeAndDType) {
  std::string message = with_tensor(R"({"dtype":"F32","shape":[2,3],"data_offsets":[0,16]})");
  EXPECT_TRUE(Contains(message, "tensor \"t\": data_offsets [0, 16] hold 16 bytes, but shape [2, 3] of F32 needs 24"));
  message = with_tensor(R"({"dtype":"BF16","shape":[4],"data_offsets":[0,16]})");
  EXPECT_TRUE(Contains(message, "of BF16 needs 8"));
}

TEST_F(SafetensorsErrors, OverlappingTensors) {
  std::string message = open_error(raw_file(
      R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
      std::string(16, 'x')));
  EXPECT_TRUE(Contains(message, "tensor \"b\": data_offsets [8, 16] overlap tensor \"a\" at [0, 12]"));
  // Two names for the same bytes.
  message = open_error(raw_file(
      R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"I32","shape":[4],"data_offsets":[0,16]}})",
      std::string(16, 'x')));
  EXPECT_TRUE(Contains(message, "overlap"));
}

TEST_F(SafetensorsErrors, GapsAndUncoveredBytes) {
  // Not starting at 0.
  std::string message = with_tensor(R"({"dtype":"F32","shape":[3],"data_offsets":[4,16]})");
  EXPECT_TRUE(Contains(message, "tensor \"t\": data_offsets [4, 16] leave bytes [0, 4] of the data buffer unused"));
  // A hole between two tensors.
  message = open_error(raw_file(
      R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
      std::string(16, 'x')));
  EXPECT_TRUE(Contains(message, "tensor \"b\": data_offsets [8, 16] leave bytes [4, 8]"));
  // Trailing bytes no tensor owns.
  message = with_tensor(R"({"dtype":"F32","shape":[3],"data_offsets":[0,12]})");
  EXPECT_TRUE(Contains(message, "the tensors cover 12 bytes but the data buffer has 16"));
  message = open_error(raw_file("{}", "junk"));
  EXPECT_TRUE(Contains(message, "the tensors cover 0 bytes but the data buffer has 4"));
}

TEST_F(SafetensorsErrors, HostileTensorNamesStayOnOneLine) {
  std::string message = open_error(raw_file(
      "{\"evil\\nname\\u0000\":{\"dtype\":\"X\",\"shape\":[],\"data_offsets\":[0,0]}}", ""));
  EXPECT_TRUE(Contains(message, "tensor \"evil\\x0aname\\x00\""));
}

TEST_F(SafetensorsErrors, EveryTruncationOfAValidFileIsRejected) {
  std::vector<float> w(10, 0.5f);
  std::vector<std::int64_t> ids{1, 2, 3};
  write_safetensors(file_, {{"w", DType::f32, {2, 5}, bytes_of(w)}, {"ids", DType::i64, {3}, bytes_of(ids)}},
                    {{"format", "pt"}});
  const std::string valid = read_raw(file_);
  for (std::size_t length = 0; length < valid.size(); ++length) {
    SCOPED_TRACE(length);
    open_error(valid.substr(0, length));
  }
  // One byte too many is rejected too.
  open_error(valid + "x");
}

TEST_F(SafetensorsErrors, RandomCorruptionNeverCrashes) {
  std::vector<float> w(6, 1.f);
  write_safetensors(file_, {{"w", DType::f32, {2, 3}, bytes_of(w)}, {"b", DType::bf16, {2}, bytes_of(w).first(4)}});
  const std::string valid = read_raw(file_);
  std::mt19937 rng(1234);
  for (int trial = 0; trial < 1000; ++trial) {
    std::string content = valid;
    if (trial % 4 == 0) {
      content.resize(rng() % 64);
      for (char& c : content) c = static_cast<char>(rng());
    } else {
      int flips = 1 + static_cast<int>(rng() % 3);
      for (int k = 0; k < flips; ++k) content[rng() % content.size()] = static_cast<char>(rng());
    }
    write_raw(file_, content);
    try {
      SafetensorsFile f(file_);
      for (const std::string& name : f.names()) {
        const TensorRecord& r = f.get(name);
        // A file that passes validation must describe memory inside the mapping.
        ASSERT_LE(r.nbytes, content.size());
      }
    } catch (const Error& e) {
      ASSERT_TRUE(StartsWith(e.what(), file_.string() + ": ")) << e.what();
      ASSERT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
    }
  }
}

// An independent check of the writer: a few lines of Python (struct + json + numpy) read the
// file as the format describes it and compare every value.
TEST(SafetensorsPython, IndependentReaderAgrees) {
  std::optional<std::string> python = testing::python_with_numpy();
  if (!python) GTEST_SKIP() << "python3 with numpy not available";
  TempDir dir;
  std::vector<float> f32(24);
  for (int i = 0; i < 24; ++i) f32[i] = 0.25f * static_cast<float>(i) - 3.f;
  std::vector<double> f64{3.141592653589793, -0.0, 1e-310};
  std::vector<std::uint16_t> f16{0x3C00, 0xC000, 0x7BFF, 0x0001};  // 1, -2, 65504, smallest subnormal
  std::vector<std::uint16_t> bf16{0x3F80, 0xC049};                   // 1.0, -3.140625
  std::vector<std::int64_t> i64{-(std::int64_t{1} << 40), 0, 101};
  std::vector<std::int32_t> i32{-2147483647 - 1, 2147483647};
  std::vector<std::int16_t> i16{-300, 300};
  std::vector<std::int8_t> i8{-5, 5};
  std::vector<std::uint8_t> u8{0, 200};
  std::vector<std::uint8_t> boolean{1, 0, 0};
  write_safetensors(dir / "x.safetensors",
                    {{"f32", DType::f32, {2, 3, 4}, bytes_of(f32)},
                     {"f64", DType::f64, {3}, bytes_of(f64)},
                     {"f16", DType::f16, {2, 2}, bytes_of(f16)},
                     {"bf16", DType::bf16, {2}, bytes_of(bf16)},
                     {"i64", DType::i64, {3}, bytes_of(i64)},
                     {"i32", DType::i32, {2}, bytes_of(i32)},
                     {"i16", DType::i16, {1, 2}, bytes_of(i16)},
                     {"i8", DType::i8, {2}, bytes_of(i8)},
                     {"u8", DType::u8, {2}, bytes_of(u8)},
                     {"bool", DType::boolean, {3}, bytes_of(boolean)},
                     {"scalar", DType::i32, {}, bytes_of(i32).first(4)},
                     {"empty", DType::f32, {0, 4}, {}}},
                    {{"format", "pt"}, {"author", "caf\xC3\xA9"}});
  write_raw(dir / "check.py", R"PY(
import json, struct, sys
import numpy as np
raw = open(sys.argv[0].replace("check.py", "x.safetensors"), "rb").read()
(n,) = struct.unpack("<Q", raw[:8])
assert (8 + n) % 8 == 0, n
text = raw[8:8 + n].decode("utf-8")
assert text.rstrip(" ") == text.rstrip(), "padding must be spaces"
header = json.loads(text)
assert header.pop("__metadata__") == {"format": "pt", "author": "caf\u00e9"}
assert list(header) == ["f32", "f64", "f16", "bf16", "i64", "i32", "i16", "i8", "u8", "bool", "scalar", "empty"], list(header)
data = raw[8 + n:]
end = 0
types = {"F32": "<f4", "F64": "<f8", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?"}
def load(name):
    global end
    info = header[name]
    b, e = info["data_offsets"]
    assert b == end, (name, b, end)
    end = e
    if info["dtype"] == "BF16":
        bits = np.frombuffer(data[b:e], dtype="<u2").astype(np.uint32) << 16
        return bits.view(np.float32).reshape(info["shape"])
    return np.frombuffer(data[b:e], dtype=types[info["dtype"]]).reshape(info["shape"])
assert np.array_equal(load("f32"), (np.arange(24, dtype=np.float32) * 0.25 - 3).reshape(2, 3, 4))
f64 = load("f64")
assert f64[0] == np.pi and f64[1] == 0 and np.signbit(f64[1]) and f64[2] == 1e-310
assert np.array_equal(load("f16"), np.array([[1, -2], [65504, 2.0**-24]], dtype=np.float16))
assert np.array_equal(load("bf16"), np.array([1.0, -3.140625], dtype=np.float32))
assert load("i64").tolist() == [-(1 << 40), 0, 101]
assert load("i32").tolist() == [-2**31, 2**31 - 1]
assert load("i16").tolist() == [[-300, 300]]
assert load("i8").tolist() == [-5, 5]
assert load("u8").tolist() == [0, 200]
assert load("bool").tolist() == [True, False, False]
s = load("scalar")
assert s.shape == () and int(s) == -2**31
assert load("empty").shape == (0, 4)
assert end == len(data)
print("ok")
)PY");
  testing::CommandResult result = testing::run_python(*python, dir / "check.py");
  EXPECT_EQ(result.status, 0) << result.output;
  EXPECT_EQ(result.output, "ok\n");
}


// The same overflow (out_of_range.406 from nlohmann's parser) in a safetensors header.
TEST_F(SafetensorsErrors, HeaderNumberOverflowIsAFormatError) {
  const std::string message = open_error(raw_file("{\"t\": 1e999}", ""));
  EXPECT_TRUE(Contains(message, "safetensors header is not valid JSON")) << message;
}

}  // namespace
}  // namespace bertscope::io
