// NumPy .npy / .npz files (readable by numpy.load). An .npz is a zip archive of .npy members,
// written uncompressed through libzip.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace bertscope::io {

// One array read back from a file: NumPy dtype descriptor (e.g. "<f4", "<i8", "<U7"),
// shape, and the raw little-endian element bytes in C order.
struct NpyArray {
  std::string descr;
  std::vector<std::int64_t> shape;
  std::vector<std::byte> bytes;

  std::int64_t numel() const;
  std::vector<float> to_f32() const;               // from f2/f4/f8; throws on other dtypes
  std::vector<double> to_f64() const;              // from f2/f4/f8
  std::vector<std::int64_t> to_i64() const;        // from any integer or bool dtype
  std::vector<std::string> to_strings() const;     // from <U (UTF-32) arrays, as UTF-8
};

// Serialises one array in .npy format version 1.0 (2.0 when the header needs it).
std::string npy_bytes(const std::string& descr, std::span<const std::int64_t> shape, std::span<const std::byte> data);

// Builds an .npz beside its target and renames it into place on commit(); if commit() is
// never reached (an error, an exception), the temporary file is removed and the target is
// left untouched. Array data is copied into the archive at add time.
class NpzWriter {
 public:
  explicit NpzWriter(std::filesystem::path target);
  ~NpzWriter();
  NpzWriter(const NpzWriter&) = delete;
  NpzWriter& operator=(const NpzWriter&) = delete;

  void add_f32(const std::string& name, std::span<const std::int64_t> shape, std::span<const float> data);
  void add_f64(const std::string& name, std::span<const std::int64_t> shape, std::span<const double> data);
  void add_i64(const std::string& name, std::span<const std::int64_t> shape, std::span<const std::int64_t> data);
  void add_i32(const std::string& name, std::span<const std::int64_t> shape, std::span<const std::int32_t> data);
  // A NumPy unicode array ("<U{n}", n = longest string in code points) from UTF-8 strings.
  void add_strings(const std::string& name, std::span<const std::int64_t> shape, const std::vector<std::string>& data);
  void commit();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Reads members of an .npz archive; errors name the file and the member.
class NpzReader {
 public:
  explicit NpzReader(const std::filesystem::path& path);
  ~NpzReader();
  NpzReader(const NpzReader&) = delete;
  NpzReader& operator=(const NpzReader&) = delete;

  std::vector<std::string> names() const;  // member names without the ".npy" suffix
  bool contains(const std::string& name) const;
  NpyArray read(const std::string& name) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Reads a single .npy file.
NpyArray read_npy(const std::filesystem::path& path);

}  // namespace bertscope::io
