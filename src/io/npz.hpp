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
//
// Readers normalise what they find: big-endian arrays are byte-swapped and their descr
// rewritten with "<", single-byte types use "|" ("|b1", "|i1", "|u1"), and Fortran-ordered
// arrays are transposed into C order.
struct NpyArray {
  std::string descr;
  std::vector<std::int64_t> shape;
  std::vector<std::byte> bytes;
  // Where the array came from ("FILE" or "FILE: member NAME"), for the conversion errors below.
  std::string source;

  std::int64_t numel() const;
  std::vector<float> to_f32() const;               // from f2/f4/f8; throws on other dtypes
  std::vector<double> to_f64() const;              // from f2/f4/f8
  std::vector<std::int64_t> to_i64() const;        // from any integer or bool dtype
  std::vector<std::string> to_strings() const;     // from <U (UTF-32) arrays, as UTF-8
};

// Serialises one array in .npy format version 1.0 (2.0 when the header needs it).
// `descr` is a little-endian NumPy descriptor of a supported dtype (b1, i1-i8, u1-u8, f2-f8,
// U{n}); `data` must hold exactly numel x itemsize bytes. Throws Error(internal) otherwise.
std::string npy_bytes(const std::string& descr, std::span<const std::int64_t> shape, std::span<const std::byte> data);

// Writes one array as an .npy file, atomically (temporary file beside it, then rename).
void write_npy(const std::filesystem::path& path, const std::string& descr, std::span<const std::int64_t> shape,
               std::span<const std::byte> data);

// Builds an .npz beside its target and renames it into place on commit(); if commit() is
// never reached (an error, an exception), the temporary file is removed and the target is
// left untouched. Array data is copied into the archive at add time.
//
// Member data is staged in a scratch file beside the target rather than in memory, so an
// archive may be far larger than RAM (members over 4 GiB and archives with more than 65535
// members use zip64, as numpy.load expects). Names are the keys numpy.load will show; each is
// stored as "NAME.npy" and must be unique, non-empty valid UTF-8.
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
  // Any supported dtype given by its descriptor (as npy_bytes), e.g. "|b1" or "|u1".
  void add_raw(const std::string& name, const std::string& descr, std::span<const std::int64_t> shape,
               std::span<const std::byte> data);

  // Streams one member whose shape is known up front but whose data arrives in pieces (a
  // corpus of attention maps, one sequence at a time): begin_array, append the C-order bytes
  // in any number of calls, then end_array, which checks that exactly numel x itemsize bytes
  // came. No other member can be added in between.
  void begin_array(const std::string& name, const std::string& descr, std::span<const std::int64_t> shape);
  void append(std::span<const std::byte> data);
  void end_array();

  void commit();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Reads members of an .npz archive; errors name the file and the member. Both stored and
// deflated (numpy.savez_compressed) members are read. Safe to share between threads.
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
