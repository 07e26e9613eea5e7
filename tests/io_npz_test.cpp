#include <gtest/gtest.h>
#include <zip.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "io/npz.hpp"
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

template <typename T>
std::vector<T> values_of(const NpyArray& a) {
  std::vector<T> out(a.bytes.size() / sizeof(T));
  if (!out.empty()) std::memcpy(out.data(), a.bytes.data(), a.bytes.size());
  return out;
}

std::vector<std::byte> to_bytes(const std::string& s) {
  std::vector<std::byte> out(s.size());
  if (!s.empty()) std::memcpy(out.data(), s.data(), s.size());
  return out;
}

// An .npy file made by hand, so tests can put anything in its header.
std::string npy_raw(const std::string& header, const std::string& data, int major = 1) {
  std::string out = "\x93NUMPY";
  out += static_cast<char>(major);
  out += '\0';
  const std::size_t n = header.size();
  out += static_cast<char>(n & 0xFF);
  out += static_cast<char>((n >> 8) & 0xFF);
  if (major >= 2) {
    out += static_cast<char>((n >> 16) & 0xFF);
    out += static_cast<char>((n >> 24) & 0xFF);
  }
  return out + header + data;
}

std::string dict(const std::string& descr, const std::string& shape, bool fortran = false) {
  return "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") + ", 'shape': " + shape +
         ", }\n";
}

template <typename T>
std::string raw_values(std::initializer_list<T> values) {
  std::string out(values.size() * sizeof(T), '\0');
  std::memcpy(out.data(), std::data(values), out.size());
  return out;
}

// A zip archive made with libzip directly, bypassing NpzWriter.
void make_zip(const std::filesystem::path& path, const std::vector<std::pair<std::string, std::string>>& members,
              bool deflate = false) {
  int code = 0;
  zip_t* zip = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &code);
  ASSERT_NE(zip, nullptr);
  for (const auto& [name, bytes] : members) {
    zip_source_t* source = zip_source_buffer(zip, bytes.data(), bytes.size(), 0);
    ASSERT_NE(source, nullptr);
    zip_int64_t index = zip_file_add(zip, name.c_str(), source, ZIP_FL_ENC_UTF_8);
    ASSERT_GE(index, 0);
    zip_set_file_compression(zip, static_cast<zip_uint64_t>(index), deflate ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0);
  }
  ASSERT_EQ(zip_close(zip), 0);
}

// --- the .npy format ---------------------------------------------------------------------

TEST(NpzNpyFormat, HeaderIsWhatNumpyWrites) {
  std::vector<float> data{1, 2, 3, 4, 5, 6};
  const std::vector<std::int64_t> shape{2, 3};
  const std::string npy = npy_bytes("<f4", shape, bytes_of(data));
  ASSERT_GE(npy.size(), 10u);
  EXPECT_EQ(npy.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  const std::size_t header_len = static_cast<unsigned char>(npy[8]) | static_cast<unsigned char>(npy[9]) << 8;
  EXPECT_EQ((10 + header_len) % 64, 0u) << "data aligned to 64 bytes";
  const std::string header = npy.substr(10, header_len);
  EXPECT_TRUE(StartsWith(header, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"));
  EXPECT_EQ(header.back(), '\n');
  EXPECT_EQ(header.find_first_not_of(' ', header.find('}') + 1), header.size() - 1);
  EXPECT_EQ(npy.size(), 10 + header_len + 24);
  EXPECT_EQ(std::memcmp(npy.data() + 10 + header_len, data.data(), 24), 0);
}

TEST(NpzNpyFormat, ShapesAndCanonicalDescriptors) {
  std::vector<std::uint8_t> one{1};
  EXPECT_TRUE(Contains(npy_bytes("<u1", std::vector<std::int64_t>{}, bytes_of(one)), "'descr': '|u1'"));
  EXPECT_TRUE(Contains(npy_bytes("|b1", std::vector<std::int64_t>{}, bytes_of(one)), "'shape': (), }"));
  EXPECT_TRUE(Contains(npy_bytes("|i1", std::vector<std::int64_t>{1}, bytes_of(one)), "'shape': (1,), }"));
  EXPECT_TRUE(Contains(npy_bytes("<f8", std::vector<std::int64_t>{0, 5}, {}), "'descr': '<f8', 'fortran_order': False, 'shape': (0, 5), }"));
  std::vector<std::uint32_t> units{'a', 'b', 0, 'c', 0, 0};
  EXPECT_TRUE(Contains(npy_bytes("<U3", std::vector<std::int64_t>{2}, bytes_of(units)), "'descr': '<U3'"));
}

TEST(NpzNpyFormat, WriterRejectsWhatItCannotDescribe) {
  std::vector<float> data{1, 2};
  const std::vector<std::int64_t> two{2};
  EXPECT_TRUE(Contains(error_of(ErrorKind::internal, [&] { npy_bytes("<c8", two, bytes_of(data)); }), "unsupported dtype \"<c8\""));
  error_of(ErrorKind::internal, [&] { npy_bytes("float32", two, bytes_of(data)); });
  error_of(ErrorKind::internal, [&] { npy_bytes("<f3", two, bytes_of(data)); });
  EXPECT_TRUE(Contains(error_of(ErrorKind::internal, [&] { npy_bytes(">f4", two, bytes_of(data)); }), "big-endian"));
  EXPECT_TRUE(Contains(error_of(ErrorKind::internal, [&] { npy_bytes("<f4", std::vector<std::int64_t>{3}, bytes_of(data)); }),
                       "8 bytes given, shape (3,) of <f4 needs 12"));
  error_of(ErrorKind::internal, [&] { npy_bytes("<f4", std::vector<std::int64_t>{-2}, bytes_of(data)); });
}

TEST(NpzNpyFormat, Version2WhenTheHeaderIsLong) {
  TempDir dir;
  // 22000 unit dimensions make a header longer than 65535 bytes.
  const std::vector<std::int64_t> shape(22000, 1);
  std::vector<std::int32_t> data{-9};
  const std::string npy = npy_bytes("<i4", shape, bytes_of(data));
  EXPECT_EQ(npy[6], 2);
  const std::size_t header_len = static_cast<unsigned char>(npy[8]) | static_cast<unsigned char>(npy[9]) << 8 |
                                 static_cast<std::size_t>(static_cast<unsigned char>(npy[10])) << 16;
  EXPECT_EQ((12 + header_len) % 64, 0u);
  write_raw(dir / "v2.npy", npy);
  NpyArray back = read_npy(dir / "v2.npy");
  EXPECT_EQ(back.shape, shape);
  EXPECT_EQ(back.to_i64(), std::vector<std::int64_t>{-9});
}

TEST(NpzNpyFormat, WriteNpyRoundTripIsAtomic) {
  TempDir dir;
  std::vector<double> data{0.5, -1e300, 3};
  write_npy(dir / "a.npy", "<f8", std::vector<std::int64_t>{3, 1}, bytes_of(data));
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"a.npy"});
  NpyArray a = read_npy(dir / "a.npy");
  EXPECT_EQ(a.descr, "<f8");
  EXPECT_EQ(a.shape, (std::vector<std::int64_t>{3, 1}));
  EXPECT_EQ(a.numel(), 3);
  EXPECT_EQ(a.to_f64(), data);
  EXPECT_EQ(a.source, (dir / "a.npy").string());
  const std::string before = read_raw(dir / "a.npy");
  error_of(ErrorKind::internal, [&] { write_npy(dir / "a.npy", "<f8", std::vector<std::int64_t>{4}, bytes_of(data)); });
  EXPECT_EQ(read_raw(dir / "a.npy"), before);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"a.npy"});
}

class NpzNpyReadErrors : public ::testing::Test {
 protected:
  std::string read_error(const std::string& content) {
    write_raw(file_, content);
    std::string message = error_of(ErrorKind::format, [&] { read_npy(file_); });
    EXPECT_TRUE(StartsWith(message, file_.string() + ": "));
    return message;
  }
  TempDir dir_;
  std::filesystem::path file_ = dir_ / "bad.npy";
};

TEST_F(NpzNpyReadErrors, TruncatedOrNotNpy) {
  EXPECT_TRUE(Contains(read_error(""), "too short"));
  EXPECT_TRUE(Contains(read_error("\x93NUMPY\x01"), "too short"));
  EXPECT_TRUE(Contains(read_error("PK\x03\x04 this is a zip, not an npy"), "bad magic"));
  EXPECT_TRUE(Contains(read_error(npy_raw(dict("<f4", "(2,)"), "", 4)), "unsupported .npy format version 4.0"));
  std::string valid = npy_raw(dict("<f4", "(2,)"), raw_values<float>({1, 2}));
  EXPECT_TRUE(Contains(read_error(valid.substr(0, 20)), "header length"));
  EXPECT_TRUE(Contains(read_error(valid.substr(0, valid.size() - 1)), "holds 7 bytes of data, but shape (2,) of <f4 needs 8"));
  EXPECT_TRUE(Contains(read_error(valid + "x"), "holds 9 bytes of data"));
  error_of(ErrorKind::io, [&] { read_npy(dir_ / "missing.npy"); });
}

TEST_F(NpzNpyReadErrors, MalformedHeaders) {
  const std::string four = raw_values<float>({1});
  const std::pair<std::string, std::string> cases[] = {
      {"{'descr': '<f4', 'shape': (1,), }", "missing key 'fortran_order'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'extra': 1}", "unexpected key \"extra\""},
      {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", "appears twice"},
      {"{'descr': '<f4', 'fortran_order': false, 'shape': (1,)}", "expected True or False"},
      {"{'descr' '<f4', 'fortran_order': False, 'shape': (1,)}", "expected ':'"},
      {"{'descr': '<f4, 'fortran_order': False, 'shape': (1,)}", "expected ',' or '}'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,)", "expected ',' or '}'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} x", "unexpected text after '}'"},
      {"['descr', '<f4']", "expected '{'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}", "non-negative integer"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1.0,)}", "expected ',' or ')'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': [1]}", "expected '('"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}", "dimension too large"},
      {"{'descr': '\\x3cf4', 'fortran_order': False, 'shape': (1,)}", "escapes"},
      {"", "expected '{'"},
  };
  for (const auto& [header, expected] : cases) {
    std::string message = read_error(npy_raw(header, four));
    EXPECT_TRUE(Contains(message, "malformed .npy header")) << header;
    EXPECT_TRUE(Contains(message, expected)) << header;
  }
  EXPECT_TRUE(Contains(read_error(npy_raw("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,)}", four)),
                       "structured (record) dtypes are not supported"));
  // A long bad header is shown in part, so the message stays readable.
  std::string message = read_error(npy_raw("{'descr': '<f4', 'x" + std::string(100000, 'y') + "': 1}", four, 2));
  EXPECT_LT(message.size(), 1000u);
  EXPECT_TRUE(Contains(message, "(100024 bytes): unexpected key \"xyyy"));
  EXPECT_TRUE(Contains(message, "(100001 bytes) at offset"));
}

TEST_F(NpzNpyReadErrors, UnsupportedDTypesAndImpossibleShapes) {
  for (const char* descr : {"<c8", "|O", "<M8[ns]", "|S5", "<f16", "<i3", "|b2", "<V8"}) {
    std::string message = read_error(npy_raw(dict(descr, "(1,)"), std::string(8, '\0')));
    EXPECT_TRUE(Contains(message, "unsupported dtype")) << descr;
  }
  EXPECT_TRUE(Contains(read_error(npy_raw(dict("<f8", "(4294967296, 4294967296, 16)"), "")), "too large"));
  EXPECT_TRUE(Contains(read_error(npy_raw(dict("<f8", "(1, 1099511627776, 1099511627776)"), "")), "too large"));
}

TEST(NpzNpyRead, NormalisesByteOrderFortranOrderAndOldSpellings) {
  TempDir dir;
  // Big-endian int32 [1, -2] and float64 [1.5].
  write_raw(dir / "be_i4.npy", npy_raw(dict(">i4", "(2,)"), std::string("\x00\x00\x00\x01\xff\xff\xff\xfe", 8)));
  NpyArray a = read_npy(dir / "be_i4.npy");
  EXPECT_EQ(a.descr, "<i4");
  EXPECT_EQ(a.to_i64(), (std::vector<std::int64_t>{1, -2}));
  write_raw(dir / "be_f8.npy", npy_raw(dict(">f8", "()"), std::string("\x3f\xf8\0\0\0\0\0\0", 8)));
  EXPECT_EQ(read_npy(dir / "be_f8.npy").to_f64(), std::vector<double>{1.5});
  // Big-endian UTF-32: each code unit is swapped, not the whole element.
  write_raw(dir / "be_u.npy", npy_raw(dict(">U2", "(1,)"), std::string("\0\0\0h\0\0\0i", 8)));
  EXPECT_EQ(read_npy(dir / "be_u.npy").to_strings(), std::vector<std::string>{"hi"});
  // Native-order and bool spellings.
  write_raw(dir / "native.npy", npy_raw(dict("=i2", "(1,)"), raw_values<std::int16_t>({-3})));
  EXPECT_EQ(read_npy(dir / "native.npy").descr, "<i2");
  write_raw(dir / "bool.npy", npy_raw(dict("|b1", "(3,)"), std::string("\1\0\1", 3)));
  EXPECT_EQ(read_npy(dir / "bool.npy").to_i64(), (std::vector<std::int64_t>{1, 0, 1}));
  // Python 2 wrote long dimensions as "3L"; numpy still reads them.
  write_raw(dir / "py2.npy", npy_raw("{'descr': '<i8', 'fortran_order': False, 'shape': (1L, 2L), }", raw_values<std::int64_t>({7, 8})));
  EXPECT_EQ(read_npy(dir / "py2.npy").shape, (std::vector<std::int64_t>{1, 2}));
  // Version 3.0 headers (UTF-8) read like 2.0.
  write_raw(dir / "v3.npy", npy_raw(dict("<i8", "(1,)"), raw_values<std::int64_t>({5}), 3));
  EXPECT_EQ(read_npy(dir / "v3.npy").to_i64(), std::vector<std::int64_t>{5});
}

TEST(NpzNpyRead, FortranOrderIsTransposedToCOrder) {
  TempDir dir;
  // [[0, 1, 2], [3, 4, 5]] stored column by column.
  write_raw(dir / "f2.npy", npy_raw(dict("<i4", "(2, 3)", true), raw_values<std::int32_t>({0, 3, 1, 4, 2, 5})));
  NpyArray a = read_npy(dir / "f2.npy");
  EXPECT_EQ(a.shape, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(a.to_i64(), (std::vector<std::int64_t>{0, 1, 2, 3, 4, 5}));
  // A 2x3x4 array whose C-order value is its C-order index.
  std::vector<std::int16_t> fortran(24);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k) fortran[i + 2 * j + 6 * k] = static_cast<std::int16_t>(12 * i + 4 * j + k);
  std::string data(48, '\0');
  std::memcpy(data.data(), fortran.data(), 48);
  write_raw(dir / "f3.npy", npy_raw(dict("<i2", "(2, 3, 4)", true), data));
  std::vector<std::int64_t> expected(24);
  for (int i = 0; i < 24; ++i) expected[i] = i;
  EXPECT_EQ(read_npy(dir / "f3.npy").to_i64(), expected);
  // Fortran order of a 1-D or empty array changes nothing.
  write_raw(dir / "f1.npy", npy_raw(dict("<i2", "(3,)", true), raw_values<std::int16_t>({1, 2, 3})));
  EXPECT_EQ(read_npy(dir / "f1.npy").to_i64(), (std::vector<std::int64_t>{1, 2, 3}));
  write_raw(dir / "f0.npy", npy_raw(dict("<i2", "(0, 3)", true), ""));
  EXPECT_TRUE(read_npy(dir / "f0.npy").to_i64().empty());
}

TEST(NpzArrayConversions, FloatsFromEveryFloatWidth) {
  NpyArray half{"<f2", {6}, to_bytes(raw_values<std::uint16_t>({0x3C00, 0xC000, 0x7BFF, 0x0001, 0x7C00, 0x7E00})), "h"};
  std::vector<float> f = half.to_f32();
  EXPECT_EQ(f[0], 1.f);
  EXPECT_EQ(f[1], -2.f);
  EXPECT_EQ(f[2], 65504.f);
  EXPECT_EQ(f[3], std::ldexp(1.f, -24));
  EXPECT_TRUE(std::isinf(f[4]));
  EXPECT_TRUE(std::isnan(f[5]));
  NpyArray negative_zero{"<f2", {1}, to_bytes(raw_values<std::uint16_t>({0x8000})), "h"};
  EXPECT_TRUE(std::signbit(negative_zero.to_f32()[0]));
  NpyArray f4{"<f4", {2}, to_bytes(raw_values<float>({0.1f, -7.f})), "f4"};
  EXPECT_EQ(f4.to_f64(), (std::vector<double>{static_cast<double>(0.1f), -7.0}));
  NpyArray f8{"<f8", {2}, to_bytes(raw_values<double>({0.1, 1e300})), "f8"};
  EXPECT_EQ(f8.to_f32()[0], 0.1f);
  EXPECT_TRUE(std::isinf(f8.to_f32()[1]));
}

TEST(NpzArrayConversions, IntegersFromEveryIntegerWidth) {
  EXPECT_EQ((NpyArray{"|i1", {2}, to_bytes(raw_values<std::int8_t>({-128, 127})), ""}.to_i64()), (std::vector<std::int64_t>{-128, 127}));
  EXPECT_EQ((NpyArray{"<i2", {1}, to_bytes(raw_values<std::int16_t>({-32768})), ""}.to_i64()), std::vector<std::int64_t>{-32768});
  EXPECT_EQ((NpyArray{"<i4", {1}, to_bytes(raw_values<std::int32_t>({-5})), ""}.to_i64()), std::vector<std::int64_t>{-5});
  EXPECT_EQ((NpyArray{"<i8", {1}, to_bytes(raw_values<std::int64_t>({std::numeric_limits<std::int64_t>::min()})), ""}.to_i64()),
            std::vector<std::int64_t>{std::numeric_limits<std::int64_t>::min()});
  EXPECT_EQ((NpyArray{"|u1", {1}, to_bytes(raw_values<std::uint8_t>({255})), ""}.to_i64()), std::vector<std::int64_t>{255});
  EXPECT_EQ((NpyArray{"<u2", {1}, to_bytes(raw_values<std::uint16_t>({65535})), ""}.to_i64()), std::vector<std::int64_t>{65535});
  EXPECT_EQ((NpyArray{"<u4", {1}, to_bytes(raw_values<std::uint32_t>({4294967295u})), ""}.to_i64()),
            std::vector<std::int64_t>{4294967295});
  EXPECT_EQ((NpyArray{"<u8", {1}, to_bytes(raw_values<std::uint64_t>({1u << 20})), ""}.to_i64()), std::vector<std::int64_t>{1 << 20});
  EXPECT_EQ((NpyArray{"|b1", {2}, to_bytes(std::string("\1\0", 2)), ""}.to_i64()), (std::vector<std::int64_t>{1, 0}));
  std::string message = error_of(ErrorKind::format, [] {
    NpyArray{"<u8", {1}, to_bytes(raw_values<std::uint64_t>({~std::uint64_t{0}})), "big.npy"}.to_i64();
  });
  EXPECT_TRUE(StartsWith(message, "big.npy: element 0 = 18446744073709551615 does not fit in int64"));
}

TEST(NpzArrayConversions, WrongKindNamesTheSource) {
  NpyArray ints{"<i8", {1}, to_bytes(raw_values<std::int64_t>({1})), "trace.npz: member \"input_ids\""};
  EXPECT_EQ(error_of(ErrorKind::format, [&] { ints.to_f32(); }),
            "trace.npz: member \"input_ids\": array of dtype <i8 cannot be read as float32");
  EXPECT_TRUE(Contains(error_of(ErrorKind::format, [&] { ints.to_f64(); }), "cannot be read as float64"));
  EXPECT_TRUE(Contains(error_of(ErrorKind::format, [&] { ints.to_strings(); }), "cannot be read as strings"));
  NpyArray floats{"<f4", {1}, to_bytes(raw_values<float>({1})), "x.npy"};
  EXPECT_TRUE(Contains(error_of(ErrorKind::format, [&] { floats.to_i64(); }), "x.npy: array of dtype <f4 cannot be read as int64"));
  NpyArray inconsistent{"<f4", {3}, to_bytes(raw_values<float>({1})), "x.npy"};
  error_of(ErrorKind::internal, [&] { inconsistent.to_f32(); });
  NpyArray unknown{"<c8", {1}, to_bytes(std::string(8, '\0')), "x.npy"};
  EXPECT_TRUE(Contains(error_of(ErrorKind::format, [&] { unknown.to_f32(); }), "unsupported dtype"));
}

TEST(NpzArrayConversions, StringsDecodeUtf32AndRejectNonCharacters) {
  NpyArray s{"<U3", {3}, to_bytes(raw_values<std::uint32_t>({'a', 0xE9, 0x1F600, 0, 0, 0, 'x', 0, 'y'})), "s"};
  // Trailing NULs are padding; an inner NUL is content, as numpy treats them.
  EXPECT_EQ(s.to_strings(), (std::vector<std::string>{"a\xC3\xA9\xF0\x9F\x98\x80", "", std::string("x\0y", 3)}));
  NpyArray surrogate{"<U1", {1}, to_bytes(raw_values<std::uint32_t>({0xD800})), "s.npy"};
  EXPECT_TRUE(Contains(error_of(ErrorKind::format, [&] { surrogate.to_strings(); }), "s.npy: element 0 holds U+D800"));
  NpyArray too_big{"<U1", {1}, to_bytes(raw_values<std::uint32_t>({0x110000})), "s.npy"};
  error_of(ErrorKind::format, [&] { too_big.to_strings(); });
  NpyArray zero_width{"<U0", {2}, {}, "s"};
  EXPECT_EQ(zero_width.to_strings(), (std::vector<std::string>{"", ""}));
}

// --- NpzWriter / NpzReader ---------------------------------------------------------------

TEST(NpzRoundTrip, EveryKindOfMember) {
  TempDir dir;
  const auto path = dir / "trace.npz";
  std::vector<float> attentions(2 * 2 * 3 * 3);
  for (std::size_t i = 0; i < attentions.size(); ++i) attentions[i] = 1.f / static_cast<float>(i + 1);
  std::vector<double> f64{1e-300, -2};
  std::vector<std::int64_t> ids{101, 7592, 102};
  std::vector<std::int32_t> word_ids{-1, 0, -1};
  std::vector<std::string> tokens{"[CLS]", "caf\xC3\xA9", "\xF0\x9F\x98\x80", "[SEP]", "", "\xE6\x97\xA5\xE6\x9C\xAC"};
  std::vector<std::uint8_t> mask{1, 1, 0};
  {
    NpzWriter w(path);
    w.add_i64("input_ids", std::vector<std::int64_t>{3}, ids);
    w.add_strings("tokens", std::vector<std::int64_t>{2, 3}, tokens);
    w.add_i32("word_ids", std::vector<std::int64_t>{3}, word_ids);
    w.add_f32("attentions", std::vector<std::int64_t>{2, 2, 3, 3}, attentions);
    w.add_f64("scalars", std::vector<std::int64_t>{2}, f64);
    w.add_raw("mask", "|b1", std::vector<std::int64_t>{3}, bytes_of(mask));
    w.add_f32("empty", std::vector<std::int64_t>{0, 4}, std::vector<float>{});
    w.add_f64("pi", std::vector<std::int64_t>{}, std::vector<double>{3.25});
    w.commit();
  }
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"trace.npz"});

  NpzReader r(path);
  EXPECT_EQ(r.names(), (std::vector<std::string>{"input_ids", "tokens", "word_ids", "attentions", "scalars", "mask", "empty", "pi"}));
  EXPECT_TRUE(r.contains("tokens"));
  EXPECT_FALSE(r.contains("tokens.npy"));
  NpyArray a = r.read("attentions");
  EXPECT_EQ(a.descr, "<f4");
  EXPECT_EQ(a.shape, (std::vector<std::int64_t>{2, 2, 3, 3}));
  EXPECT_EQ(a.to_f32(), attentions);
  EXPECT_EQ(a.source, path.string() + ": member \"attentions\"");
  EXPECT_EQ(r.read("input_ids").descr, "<i8");
  EXPECT_EQ(r.read("input_ids").to_i64(), ids);
  EXPECT_EQ(r.read("word_ids").descr, "<i4");
  EXPECT_EQ(values_of<std::int32_t>(r.read("word_ids")), word_ids);
  EXPECT_EQ(r.read("scalars").to_f64(), f64);
  NpyArray t = r.read("tokens");
  EXPECT_EQ(t.descr, "<U5");  // "[CLS]" and "[SEP]" are the longest, in code points
  EXPECT_EQ(t.shape, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(t.to_strings(), tokens);
  EXPECT_EQ(r.read("mask").descr, "|b1");
  EXPECT_EQ(r.read("mask").to_i64(), (std::vector<std::int64_t>{1, 1, 0}));
  EXPECT_EQ(r.read("empty").shape, (std::vector<std::int64_t>{0, 4}));
  EXPECT_TRUE(r.read("empty").bytes.empty());
  NpyArray pi = r.read("pi");
  EXPECT_TRUE(pi.shape.empty());
  EXPECT_EQ(pi.numel(), 1);
  EXPECT_EQ(pi.to_f64(), std::vector<double>{3.25});
}

TEST(NpzRoundTrip, StringWidthCountsCodePoints) {
  TempDir dir;
  {
    NpzWriter w(dir / "s.npz");
    w.add_strings("wide", std::vector<std::int64_t>{2}, {"\xF0\x9F\x98\x80\xF0\x9F\x98\x80", "ab"});
    w.add_strings("blank", std::vector<std::int64_t>{2}, {"", ""});
    w.add_strings("none", std::vector<std::int64_t>{0}, {});
    w.commit();
  }
  NpzReader r(dir / "s.npz");
  EXPECT_EQ(r.read("wide").descr, "<U2");
  EXPECT_EQ(r.read("wide").bytes.size(), 16u);
  EXPECT_EQ(r.read("blank").descr, "<U1");  // as numpy.array(["", ""]) has
  EXPECT_EQ(r.read("blank").to_strings(), (std::vector<std::string>{"", ""}));
  EXPECT_EQ(r.read("none").descr, "<U1");
  EXPECT_TRUE(r.read("none").to_strings().empty());
}

TEST(NpzRoundTrip, StreamedMember) {
  TempDir dir;
  const std::vector<std::int64_t> shape{4, 3};
  {
    NpzWriter w(dir / "stream.npz");
    w.add_i64("before", std::vector<std::int64_t>{1}, std::vector<std::int64_t>{-1});
    w.begin_array("rows", "<f4", shape);
    for (int row = 0; row < 4; ++row) {
      std::vector<float> values{row * 1.f, row * 2.f, row * 3.f};
      w.append(bytes_of(values));
    }
    w.append({});
    w.end_array();
    w.add_i64("after", std::vector<std::int64_t>{1}, std::vector<std::int64_t>{1});
    w.commit();
  }
  NpzReader r(dir / "stream.npz");
  EXPECT_EQ(r.names(), (std::vector<std::string>{"before", "rows", "after"}));
  EXPECT_EQ(r.read("rows").to_f32(), (std::vector<float>{0, 0, 0, 1, 2, 3, 2, 4, 6, 3, 6, 9}));
  EXPECT_EQ(r.read("after").to_i64(), std::vector<std::int64_t>{1});
}

TEST(NpzRoundTrip, StreamingMisuseIsCaught) {
  TempDir dir;
  const auto path = dir / "misuse.npz";
  NpzWriter w(path);
  std::vector<float> three{1, 2, 3};
  error_of(ErrorKind::internal, [&] { w.append(bytes_of(three)); });
  error_of(ErrorKind::internal, [&] { w.end_array(); });
  w.begin_array("m", "<f4", std::vector<std::int64_t>{2});
  EXPECT_TRUE(Contains(error_of(ErrorKind::internal, [&] { w.append(bytes_of(three)); }), "would exceed the 8"));
  EXPECT_TRUE(Contains(error_of(ErrorKind::internal, [&] { w.add_f32("other", std::vector<std::int64_t>{3}, three); }),
                       "member \"m\" is still open"));
  error_of(ErrorKind::internal, [&] { w.begin_array("n", "<f4", std::vector<std::int64_t>{2}); });
  error_of(ErrorKind::internal, [&] { w.commit(); });
  w.append(bytes_of(three).first(4));
  EXPECT_TRUE(Contains(error_of(ErrorKind::internal, [&] { w.end_array(); }), "4 bytes appended, its shape needs 8"));
  w.append(bytes_of(three).subspan(4, 4));
  w.end_array();
  w.commit();
  EXPECT_EQ(NpzReader(path).read("m").to_f32(), (std::vector<float>{1, 2}));
}

TEST(NpzRoundTrip, NothingIsLeftWithoutCommit) {
  TempDir dir;
  const auto path = dir / "out.npz";
  {
    NpzWriter w(path);
    w.add_f32("a", std::vector<std::int64_t>{2}, std::vector<float>{1, 2});
    w.begin_array("b", "<i8", std::vector<std::int64_t>{2});
  }
  EXPECT_TRUE(dir.entries().empty()) << "no partial output file, no temporary file";
  // An existing target survives an abandoned rewrite untouched.
  {
    NpzWriter w(path);
    w.add_i64("old", std::vector<std::int64_t>{1}, std::vector<std::int64_t>{7});
    w.commit();
  }
  const std::string before = read_raw(path);
  try {
    NpzWriter w(path);
    w.add_i64("new", std::vector<std::int64_t>{1}, std::vector<std::int64_t>{8});
    w.add_i64("bad", std::vector<std::int64_t>{2}, std::vector<std::int64_t>{8});  // throws
    w.commit();
    ADD_FAILURE() << "the bad member was accepted";
  } catch (const Error&) {
  }
  EXPECT_EQ(read_raw(path), before);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"out.npz"});
  // A committed rewrite replaces it.
  {
    NpzWriter w(path);
    w.add_i64("new", std::vector<std::int64_t>{1}, std::vector<std::int64_t>{8});
    w.commit();
  }
  EXPECT_EQ(NpzReader(path).names(), std::vector<std::string>{"new"});
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"out.npz"});
}

TEST(NpzRoundTrip, EmptyArchive) {
  TempDir dir;
  {
    NpzWriter w(dir / "empty.npz");
    w.commit();
  }
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"empty.npz"});
  EXPECT_EQ(read_raw(dir / "empty.npz").size(), 22u);
  EXPECT_TRUE(NpzReader(dir / "empty.npz").names().empty());
}

TEST(NpzRoundTrip, WriterMisuse) {
  TempDir dir;
  const auto path = dir / "w.npz";
  NpzWriter w(path);
  std::vector<float> two{1, 2};
  const std::vector<std::int64_t> shape{2};
  w.add_f32("a", shape, two);
  EXPECT_TRUE(Contains(error_of(ErrorKind::internal, [&] { w.add_f32("a", shape, two); }), "member \"a\" is added twice"));
  error_of(ErrorKind::internal, [&] { w.add_f32("", shape, two); });
  error_of(ErrorKind::internal, [&] { w.add_f32("bad\xff", shape, two); });
  error_of(ErrorKind::internal, [&] { w.add_f32(std::string("nul\0", 4), shape, two); });
  EXPECT_TRUE(Contains(error_of(ErrorKind::internal, [&] { w.add_f32("b", std::vector<std::int64_t>{3}, two); }),
                       path.string()));
  error_of(ErrorKind::internal, [&] { w.add_raw("c", "<c8", shape, bytes_of(two)); });
  EXPECT_TRUE(Contains(error_of(ErrorKind::input, [&] { w.add_strings("s", shape, {"ok", "bad\xC3"}); }),
                       "member \"s\": element 1 is not valid UTF-8"));
  error_of(ErrorKind::internal, [&] { w.add_strings("s", std::vector<std::int64_t>{3}, {"ok", "fine"}); });
  w.commit();
  error_of(ErrorKind::internal, [&] { w.add_f32("late", shape, two); });
  error_of(ErrorKind::internal, [&] { w.commit(); });
  EXPECT_EQ(NpzReader(path).names(), std::vector<std::string>{"a"});
  std::string message = error_of(ErrorKind::io, [&] { NpzWriter bad(dir / "missing" / "x.npz"); });
  EXPECT_TRUE(Contains(message, (dir / "missing" / "x.npz").string()));
}

TEST(NpzRoundTrip, ManyMembersNeedZip64) {
  TempDir dir;
  // More than 65535 entries needs the zip64 end-of-central-directory record.
  constexpr int kMembers = 66000;
  {
    NpzWriter w(dir / "many.npz");
    for (int i = 0; i < kMembers; ++i) w.add_i32(fmt::format("m{}", i), std::vector<std::int64_t>{1}, std::vector<std::int32_t>{i});
    w.commit();
  }
  NpzReader r(dir / "many.npz");
  ASSERT_EQ(r.names().size(), static_cast<std::size_t>(kMembers));
  for (int i : {0, 1, 65535, 65536, kMembers - 1}) {
    EXPECT_EQ(r.read(fmt::format("m{}", i)).to_i64(), std::vector<std::int64_t>{i});
  }
}

TEST(NpzRoundTrip, ConcurrentReadsAgree) {
  TempDir dir;
  std::vector<float> big(100000);
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<float>(i);
  {
    NpzWriter w(dir / "c.npz");
    w.add_f32("a", std::vector<std::int64_t>{100000}, big);
    w.add_f32("b", std::vector<std::int64_t>{1000}, std::span(big).first(1000));
    w.commit();
  }
  NpzReader r(dir / "c.npz");
  std::vector<std::thread> threads;
  std::vector<int> ok(8, 0);
  for (int k = 0; k < 8; ++k) {
    threads.emplace_back([&, k] {
      for (int rep = 0; rep < 5; ++rep) {
        std::vector<float> got = r.read(k % 2 == 0 ? "a" : "b").to_f32();
        ok[k] += got.size() == (k % 2 == 0 ? 100000u : 1000u) && got.back() == (k % 2 == 0 ? 99999.f : 999.f);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok, std::vector<int>(8, 5));
}

// Over 4 GiB in one member: minutes and about 9 GB of disk, so only on request.
TEST(NpzRoundTrip, MemberLargerThan4GiB) {
  if (std::getenv("BERTSCOPE_LARGE_TESTS") == nullptr) GTEST_SKIP() << "set BERTSCOPE_LARGE_TESTS=1 to run";
  TempDir dir;
  const std::int64_t n = (std::int64_t{1} << 32) + 4096;
  {
    NpzWriter w(dir / "large.npz");
    w.add_i64("head", std::vector<std::int64_t>{1}, std::vector<std::int64_t>{42});
    w.begin_array("big", "|u1", std::vector<std::int64_t>{n});
    std::vector<std::uint8_t> chunk(1 << 26);
    for (std::int64_t done = 0; done < n;) {
      std::size_t take = static_cast<std::size_t>(std::min<std::int64_t>(static_cast<std::int64_t>(chunk.size()), n - done));
      for (std::size_t i = 0; i < take; ++i) chunk[i] = static_cast<std::uint8_t>((done + static_cast<std::int64_t>(i)) % 251);
      w.append(std::as_bytes(std::span(chunk).first(take)));
      done += static_cast<std::int64_t>(take);
    }
    w.end_array();
    w.add_i64("tail", std::vector<std::int64_t>{1}, std::vector<std::int64_t>{43});
    w.commit();
  }
  NpzReader r(dir / "large.npz");
  EXPECT_EQ(r.read("tail").to_i64(), std::vector<std::int64_t>{43});
  NpyArray big = r.read("big");
  ASSERT_EQ(big.bytes.size(), static_cast<std::size_t>(n));
  for (std::int64_t i : {std::int64_t{0}, std::int64_t{1} << 31, (std::int64_t{1} << 32) + 7, n - 1}) {
    EXPECT_EQ(static_cast<int>(big.bytes[static_cast<std::size_t>(i)]), static_cast<int>(i % 251)) << i;
  }
}

class NpzReadErrors : public ::testing::Test {
 protected:
  std::string read_error(const std::string& member, ErrorKind kind = ErrorKind::format) {
    std::string message = error_of(kind, [&] { NpzReader(file_).read(member); });
    EXPECT_TRUE(StartsWith(message, file_.string() + ": member \"" + member + "\": ")) << message;
    return message;
  }
  TempDir dir_;
  std::filesystem::path file_ = dir_ / "bad.npz";
};

TEST_F(NpzReadErrors, NotAnArchive) {
  EXPECT_TRUE(Contains(error_of(ErrorKind::io, [&] { NpzReader r(dir_ / "missing.npz"); }), (dir_ / "missing.npz").string()));
  error_of(ErrorKind::io, [&] { NpzReader r(dir_.path()); });
  write_raw(file_, "this is not a zip archive at all, just text");
  std::string message = error_of(ErrorKind::format, [&] { NpzReader r(file_); });
  EXPECT_TRUE(StartsWith(message, file_.string() + ": not a readable .npz (zip) archive"));
  write_raw(file_, "");
  error_of(ErrorKind::format, [&] { NpzReader r(file_); });
}

TEST_F(NpzReadErrors, TruncatedArchive) {
  {
    NpzWriter w(file_);
    w.add_f32("a", std::vector<std::int64_t>{64}, std::vector<float>(64, 1.f));
    w.commit();
  }
  const std::string valid = read_raw(file_);
  for (std::size_t cut : {std::size_t{0}, std::size_t{10}, valid.size() / 2, valid.size() - 1}) {
    write_raw(file_, valid.substr(0, cut));
    try {
      NpzReader r(file_);
      r.read("a");
      ADD_FAILURE() << "truncated to " << cut << " bytes and still read";
    } catch (const Error& e) {
      EXPECT_TRUE(StartsWith(e.what(), file_.string() + ": ")) << e.what();
    }
  }
}

TEST_F(NpzReadErrors, CorruptedDataFailsTheCrc) {
  {
    NpzWriter w(file_);
    w.add_f32("a", std::vector<std::int64_t>{64}, std::vector<float>(64, 1.f));
    w.commit();
  }
  std::string bytes = read_raw(file_);
  const std::size_t data = bytes.find(std::string("\x00\x00\x80\x3f", 4));
  ASSERT_NE(data, std::string::npos);
  bytes[data + 100] ^= 0x01;
  write_raw(file_, bytes);
  EXPECT_TRUE(Contains(read_error("a"), "CRC"));
}

TEST_F(NpzReadErrors, LyingDirectorySizes) {
  {
    NpzWriter w(file_);
    w.add_f32("a", std::vector<std::int64_t>{4}, std::vector<float>(4, 1.f));
    w.commit();
  }
  const std::string valid = read_raw(file_);
  const std::size_t central = valid.find("PK\x01\x02");
  ASSERT_NE(central, std::string::npos);
  // The central directory entry's compressed (offset 20) and uncompressed (24) sizes, each
  // made to claim 1 GB: refused before anything is allocated for them.
  const std::uint32_t lie = 1000000000;
  for (std::size_t field : {std::size_t{20}, std::size_t{24}}) {
    std::string bytes = valid;
    std::memcpy(bytes.data() + central + field, &lie, 4);
    write_raw(file_, bytes);
    EXPECT_TRUE(Contains(read_error("a"), "claims 1000000000")) << field;
  }
}

TEST_F(NpzReadErrors, MissingMember) {
  make_zip(file_, {{"a.npy", npy_raw(dict("<f4", "()"), raw_values<float>({1}))}, {"readme.txt", "not an array"}});
  NpzReader r(file_);
  EXPECT_EQ(r.names(), std::vector<std::string>{"a"});  // only .npy members are arrays
  EXPECT_FALSE(r.contains("readme.txt"));
  EXPECT_TRUE(Contains(read_error("nope"), "no such member"));
  EXPECT_EQ(r.read("a").to_f32(), std::vector<float>{1});
}

TEST_F(NpzReadErrors, BadMembersNameFileAndMember) {
  make_zip(file_, {{"magic.npy", "PK not an npy"},
                   {"header.npy", npy_raw("{'descr': '<f4'}", "")},
                   {"size.npy", npy_raw(dict("<f4", "(3,)"), raw_values<float>({1, 2}))},
                   {"dtype.npy", npy_raw(dict("<c16", "(1,)"), std::string(16, '\0'))},
                   {"short.npy", "\x93NUM"}});
  EXPECT_TRUE(Contains(read_error("magic"), "bad magic"));
  EXPECT_TRUE(Contains(read_error("header"), "malformed .npy header"));
  EXPECT_TRUE(Contains(read_error("size"), "holds 8 bytes of data, but shape (3,) of <f4 needs 12"));
  EXPECT_TRUE(Contains(read_error("dtype"), "unsupported dtype \"<c16\""));
  EXPECT_TRUE(Contains(read_error("short"), "too short"));
  NpzReader r(file_);
  NpyArray ok_after_errors;
  EXPECT_EQ(r.names().size(), 5u);
}

TEST_F(NpzReadErrors, DeflatedMembersAreRead) {
  std::vector<float> values(1000, 0.5f);
  std::string data(4000, '\0');
  std::memcpy(data.data(), values.data(), 4000);
  make_zip(file_, {{"z.npy", npy_raw(dict("<f4", "(1000,)"), data)}}, true);
  EXPECT_EQ(NpzReader(file_).read("z").to_f32(), values);
}

// --- NumPy cross-checks ------------------------------------------------------------------

TEST(NpzPython, NumpyReadsOurFiles) {
  std::optional<std::string> python = testing::python_with_numpy();
  if (!python) GTEST_SKIP() << "python3 with numpy not available";
  TempDir dir;
  std::vector<float> att(2 * 3 * 4);
  for (std::size_t i = 0; i < att.size(); ++i) att[i] = 0.5f * static_cast<float>(i) - 3.f;
  {
    NpzWriter w(dir / "ours.npz");
    w.add_f32("attentions", std::vector<std::int64_t>{2, 3, 4}, att);
    w.add_f64("f64", std::vector<std::int64_t>{3}, std::vector<double>{3.141592653589793, -0.0, 1e-310});
    w.add_i64("input_ids", std::vector<std::int64_t>{4}, std::vector<std::int64_t>{101, 7592, -(std::int64_t{1} << 40), 102});
    w.add_i32("word_ids", std::vector<std::int64_t>{2, 2}, std::vector<std::int32_t>{-1, 0, 1, -1});
    w.add_strings("tokens", std::vector<std::int64_t>{5},
                  {"[CLS]", "caf\xC3\xA9", "\xF0\x9F\x98\x80", "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xA7\xE3\x81\x99", ""});
    w.add_raw("mask", "|b1", std::vector<std::int64_t>{3}, bytes_of(std::vector<std::uint8_t>{1, 0, 1}));
    w.add_f32("scalar", std::vector<std::int64_t>{}, std::vector<float>{2.5f});
    w.add_f32("empty", std::vector<std::int64_t>{0, 3}, std::vector<float>{});
    w.begin_array("streamed", "<i8", std::vector<std::int64_t>{2, 2});
    w.append(bytes_of(std::vector<std::int64_t>{1, 2}));
    w.append(bytes_of(std::vector<std::int64_t>{3, 4}));
    w.end_array();
    w.commit();
  }
  {
    NpzWriter w(dir / "none.npz");
    w.commit();
  }
  write_npy(dir / "single.npy", "<f4", std::vector<std::int64_t>{2, 2}, bytes_of(std::vector<float>{1, 2, 3, 4}));
  write_raw(dir / "check.py", R"PY(
import os, sys, zipfile
import numpy as np
d = os.path.dirname(os.path.abspath(sys.argv[0]))
with zipfile.ZipFile(os.path.join(d, "ours.npz")) as z:
    assert all(i.compress_type == zipfile.ZIP_STORED for i in z.infolist())
with np.load(os.path.join(d, "ours.npz")) as f:
    assert list(f.keys()) == ["attentions", "f64", "input_ids", "word_ids", "tokens", "mask", "scalar", "empty", "streamed"], list(f.keys())
    a = f["attentions"]
    assert a.dtype == np.float32 and a.shape == (2, 3, 4) and a.flags.c_contiguous
    assert np.array_equal(a, (np.arange(24, dtype=np.float32) * 0.5 - 3).reshape(2, 3, 4))
    x = f["f64"]
    assert x.dtype == np.float64 and x[0] == np.pi and x[1] == 0 and np.signbit(x[1]) and x[2] == 1e-310
    assert f["input_ids"].dtype == np.int64 and f["input_ids"].tolist() == [101, 7592, -(1 << 40), 102]
    assert f["word_ids"].dtype == np.int32 and f["word_ids"].tolist() == [[-1, 0], [1, -1]]
    t = f["tokens"]
    assert t.dtype.str == "<U5", t.dtype.str
    assert t.tolist() == ["[CLS]", "caf\u00e9", "\U0001F600", "\u65e5\u672c\u8a9e\u3067\u3059", ""], t.tolist()
    assert f["mask"].dtype == np.bool_ and f["mask"].tolist() == [True, False, True]
    s = f["scalar"]
    assert s.shape == () and s.dtype == np.float32 and float(s) == 2.5
    assert f["empty"].shape == (0, 3) and f["empty"].dtype == np.float32
    assert f["streamed"].tolist() == [[1, 2], [3, 4]]
with np.load(os.path.join(d, "none.npz")) as f:
    assert list(f.keys()) == []
y = np.load(os.path.join(d, "single.npy"))
assert y.dtype == np.float32 and y.tolist() == [[1, 2], [3, 4]]
m = np.load(os.path.join(d, "single.npy"), mmap_mode="r")
assert m.tolist() == [[1, 2], [3, 4]]
print("ok")
)PY");
  testing::CommandResult result = testing::run_python(*python, dir / "check.py");
  EXPECT_EQ(result.status, 0) << result.output;
  EXPECT_EQ(result.output, "ok\n");
}

TEST(NpzPython, WeReadNumpyFiles) {
  std::optional<std::string> python = testing::python_with_numpy();
  if (!python) GTEST_SKIP() << "python3 with numpy not available";
  TempDir dir;
  write_raw(dir / "make.py", R"PY(
import os, sys
import numpy as np
d = os.path.dirname(os.path.abspath(sys.argv[0]))
c = np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 8
arrays = dict(
    c_order=c,
    fortran=np.asfortranarray(c),
    transposed=np.arange(6, dtype=np.int64).reshape(2, 3).T,
    big_endian=np.array([1, -2, 300], dtype=">i4"),
    half=np.array([1, -2, 65504, 2.0**-24], dtype=np.float16),
    flags=np.array([True, False, True]),
    bytes_u1=np.array([0, 255], dtype=np.uint8),
    shorts=np.array([[-300, 300]], dtype=np.int16),
    words=np.array(["a", "caf\u00e9", "\U0001F600x"]),
    scalar=np.float64(2.5),
    empty=np.zeros((0, 3), dtype=np.float32),
)
np.savez(os.path.join(d, "plain.npz"), **arrays)
np.savez_compressed(os.path.join(d, "compressed.npz"), **arrays)
np.save(os.path.join(d, "fortran.npy"), np.asfortranarray(c))
print("ok")
)PY");
  testing::CommandResult made = testing::run_python(*python, dir / "make.py");
  ASSERT_EQ(made.status, 0) << made.output;
  std::vector<float> c(24);
  for (int i = 0; i < 24; ++i) c[i] = static_cast<float>(i) / 8;
  for (const char* name : {"plain.npz", "compressed.npz"}) {
    SCOPED_TRACE(name);
    NpzReader r(dir / name);
    EXPECT_EQ(r.names().size(), 11u);
    EXPECT_EQ(r.read("c_order").to_f32(), c);
    NpyArray fortran = r.read("fortran");
    EXPECT_EQ(fortran.shape, (std::vector<std::int64_t>{2, 3, 4}));
    EXPECT_EQ(fortran.to_f32(), c);
    NpyArray transposed = r.read("transposed");
    EXPECT_EQ(transposed.shape, (std::vector<std::int64_t>{3, 2}));
    EXPECT_EQ(transposed.to_i64(), (std::vector<std::int64_t>{0, 3, 1, 4, 2, 5}));
    NpyArray be = r.read("big_endian");
    EXPECT_EQ(be.descr, "<i4");
    EXPECT_EQ(be.to_i64(), (std::vector<std::int64_t>{1, -2, 300}));
    EXPECT_EQ(r.read("half").to_f32(), (std::vector<float>{1, -2, 65504, std::ldexp(1.f, -24)}));
    EXPECT_EQ(r.read("flags").descr, "|b1");
    EXPECT_EQ(r.read("flags").to_i64(), (std::vector<std::int64_t>{1, 0, 1}));
    EXPECT_EQ(r.read("bytes_u1").to_i64(), (std::vector<std::int64_t>{0, 255}));
    EXPECT_EQ(r.read("shorts").to_i64(), (std::vector<std::int64_t>{-300, 300}));
    NpyArray words = r.read("words");
    EXPECT_EQ(words.descr, "<U4");
    EXPECT_EQ(words.to_strings(), (std::vector<std::string>{"a", "caf\xC3\xA9", "\xF0\x9F\x98\x80x"}));
    NpyArray scalar = r.read("scalar");
    EXPECT_TRUE(scalar.shape.empty());
    EXPECT_EQ(scalar.to_f64(), std::vector<double>{2.5});
    EXPECT_EQ(r.read("empty").shape, (std::vector<std::int64_t>{0, 3}));
  }
  EXPECT_EQ(read_npy(dir / "fortran.npy").to_f32(), c);
}

}  // namespace
}  // namespace bertscope::io
