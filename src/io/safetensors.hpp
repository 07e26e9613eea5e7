// safetensors files: memory-mapped reading with full validation, and atomic writing.
// Format: 8-byte little-endian header length N, N bytes of JSON header, then the data buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace bertscope::io {

enum class DType { f64, f32, f16, bf16, i64, i32, i16, i8, u8, boolean };

// The safetensors spelling ("F32", "BF16", ...) and the size of one element in bytes.
std::string dtype_name(DType dtype);
std::size_t dtype_size(DType dtype);

// A read-only memory mapping of a whole file; unmapped on destruction.
class MappedFile {
 public:
  explicit MappedFile(const std::filesystem::path& path);  // throws Error(io) naming the file
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::byte* data() const { return data_; }
  std::size_t size() const { return size_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

// One tensor inside a mapped safetensors file. `data` points into the mapping (no copy) and
// is valid while the SafetensorsFile lives; it may be unaligned.
struct TensorRecord {
  std::string name;
  DType dtype;
  std::vector<std::int64_t> shape;
  const std::byte* data;
  std::size_t nbytes;
};

// A validated, memory-mapped safetensors file. The constructor checks everything a lying or
// truncated file could get wrong (header length, JSON, dtypes, shapes, offsets inside the
// buffer, size = numel x dtype size, offsets contiguous and covering the buffer) and throws
// Error(format) naming the file and, where one is at fault, the tensor.
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::filesystem::path& path);

  const std::filesystem::path& path() const;
  std::vector<std::string> names() const;  // sorted
  bool contains(const std::string& name) const;
  const TensorRecord& get(const std::string& name) const;  // throws Error naming file and tensor
  const std::map<std::string, std::string>& metadata() const;  // the "__metadata__" entry
  const MappedFile& mapping() const { return *file_; }

 private:
  std::shared_ptr<MappedFile> file_;
  std::map<std::string, TensorRecord> tensors_;
  std::map<std::string, std::string> metadata_;
};

struct TensorToWrite {
  std::string name;
  DType dtype;
  std::vector<std::int64_t> shape;
  std::span<const std::byte> bytes;  // little-endian, numel x dtype size
};

// Writes a safetensors file atomically (temporary file beside it, then rename). Tensors are
// laid out in the given order; the header is padded with spaces to a multiple of 8 bytes, as
// the reference implementation does, so F32 data stays aligned when mapped.
void write_safetensors(const std::filesystem::path& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace bertscope::io
