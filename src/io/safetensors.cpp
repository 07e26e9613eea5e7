#include "io/safetensors.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <optional>
#include <set>
#include <system_error>
#include <tuple>

#include "io/atomic_output.hpp"
#include "io/error.hpp"
#include "io/files.hpp"

namespace bertscope::io {
namespace {

static_assert(std::endian::native == std::endian::little, "safetensors data is little-endian; bertscope assumes a little-endian host");

// The reference implementation refuses headers above 100 MB; a real checkpoint header holds a
// few hundred bytes per tensor.
constexpr std::uint64_t kMaxHeaderSize = 100'000'000;
// Deep enough for the header's object -> tensor -> shape nesting, shallow enough that a hostile
// "[[[[..." header cannot eat memory.
constexpr int kMaxHeaderDepth = 16;

constexpr DType kAllDTypes[] = {DType::f64, DType::f32, DType::f16, DType::bf16, DType::i64,
                                DType::i32, DType::i16, DType::i8,  DType::u8,   DType::boolean};

std::optional<DType> parse_dtype(std::string_view name) {
  for (DType d : kAllDTypes) {
    if (dtype_name(d) == name) return d;
  }
  return std::nullopt;
}

std::string shape_text(const std::vector<std::int64_t>& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

// Element count of a shape, or nullopt when it does not fit in 63 bits.
std::optional<std::uint64_t> checked_numel(const std::vector<std::int64_t>& shape) {
  std::uint64_t numel = 1;
  for (std::int64_t d : shape) {
    if (d < 0 || __builtin_mul_overflow(numel, static_cast<std::uint64_t>(d), &numel)) return std::nullopt;
  }
  if (numel > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
  return numel;
}

nlohmann::json parse_header(const std::filesystem::path& path, std::string_view text) {
  auto depth_guard = [&](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
    if (depth > kMaxHeaderDepth) {
      fail(ErrorKind::format, "{}: safetensors header nests deeper than {} levels", path.string(), kMaxHeaderDepth);
    }
    return true;
  };
  // nlohmann stops at a NUL byte as if the input ended there, which would accept
  // "{}\0<anything>"; JSON never contains one, so it is an error wherever it is.
  if (std::size_t nul = text.find('\0'); nul != std::string_view::npos) {
    fail(ErrorKind::format, "{}: safetensors header is not valid JSON: NUL byte at header offset {}", path.string(), nul);
  }
  try {
    return nlohmann::json::parse(text, depth_guard);
  } catch (const nlohmann::json::parse_error& e) {
    std::string what = e.what();
    if (auto bracket = what.find("] "); bracket != std::string::npos) what.erase(0, bracket + 2);
    // The "last read" excerpt quotes file bytes; quote() keeps the message on one line.
    std::string detail = quote(what);
    fail(ErrorKind::format, "{}: safetensors header is not valid JSON: {}", path.string(),
         detail.substr(1, detail.size() - 2));
  } catch (const nlohmann::json::out_of_range& e) {  // a number too large for a double: out_of_range.406
    std::string detail = quote(e.what());
    fail(ErrorKind::format, "{}: safetensors header is not valid JSON: {}", path.string(),
         detail.substr(1, detail.size() - 2));
  }
}

// Reads a JSON value that must be a non-negative integer, as serde's usize would.
std::optional<std::uint64_t> as_size(const nlohmann::json& value) {
  if (!value.is_number_unsigned()) return std::nullopt;
  return value.get<std::uint64_t>();
}

}  // namespace

std::string dtype_name(DType dtype) {
  switch (dtype) {
    case DType::f64: return "F64";
    case DType::f32: return "F32";
    case DType::f16: return "F16";
    case DType::bf16: return "BF16";
    case DType::i64: return "I64";
    case DType::i32: return "I32";
    case DType::i16: return "I16";
    case DType::i8: return "I8";
    case DType::u8: return "U8";
    case DType::boolean: return "BOOL";
  }
  fail(ErrorKind::internal, "dtype_name: unknown DType value {}", static_cast<int>(dtype));
}

std::size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::f64:
    case DType::i64: return 8;
    case DType::f32:
    case DType::i32: return 4;
    case DType::f16:
    case DType::bf16:
    case DType::i16: return 2;
    case DType::i8:
    case DType::u8:
    case DType::boolean: return 1;
  }
  fail(ErrorKind::internal, "dtype_size: unknown DType value {}", static_cast<int>(dtype));
}

MappedFile::MappedFile(const std::filesystem::path& path) : path_(path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(ErrorKind::io, "cannot open {}: {}", path.string(), errno_text(errno));
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    int err = errno;
    ::close(fd);
    fail(ErrorKind::io, "cannot open {}: {}", path.string(), errno_text(err));
  }
  if (!S_ISREG(info.st_mode)) {
    ::close(fd);
    fail(ErrorKind::io, "cannot map {}: not a regular file", path.string());
  }
  size_ = static_cast<std::size_t>(info.st_size);
  // mmap refuses length 0; an empty file is simply an empty span.
  if (size_ > 0) {
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      int err = errno;
      ::close(fd);
      fail(ErrorKind::io, "cannot map {}: {}", path.string(), errno_text(err));
    }
    data_ = static_cast<const std::byte*>(p);
  }
  // The mapping keeps its own reference to the file.
  ::close(fd);
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(const_cast<std::byte*>(data_), size_);
}

SafetensorsFile::SafetensorsFile(const std::filesystem::path& path) : file_(std::make_shared<MappedFile>(path)) {
  const std::string file = path.string();
  const std::size_t file_size = file_->size();
  if (file_size < 8) {
    fail(ErrorKind::format, "{}: not a safetensors file: {} bytes, too short for the 8-byte header length", file,
         file_size);
  }
  std::uint64_t header_size = 0;
  std::memcpy(&header_size, file_->data(), 8);
  if (header_size > kMaxHeaderSize) {
    fail(ErrorKind::format, "{}: safetensors header length {} exceeds the {}-byte limit (not a safetensors file?)",
         file, header_size, kMaxHeaderSize);
  }
  if (header_size > file_size - 8) {
    fail(ErrorKind::format, "{}: safetensors header length {} runs past the end of the {}-byte file (truncated?)",
         file, header_size, file_size);
  }
  const std::byte* buffer = file_->data() + 8 + header_size;
  const std::uint64_t buffer_size = file_size - 8 - header_size;

  const nlohmann::json header = parse_header(
      path, std::string_view(reinterpret_cast<const char*>(file_->data()) + 8, static_cast<std::size_t>(header_size)));
  if (!header.is_object()) {
    fail(ErrorKind::format, "{}: safetensors header is a JSON {}, expected an object", file, header.type_name());
  }

  struct Span {
    std::uint64_t begin, end;
    const std::string* name;
  };
  std::vector<Span> spans;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) {
        fail(ErrorKind::format, "{}: \"__metadata__\" is a JSON {}, expected an object of strings", file,
             entry.type_name());
      }
      for (const auto& [key, value] : entry.items()) {
        if (!value.is_string()) {
          fail(ErrorKind::format, "{}: \"__metadata__\" entry {} is a JSON {}, expected a string", file, quote(key),
               value.type_name());
        }
        metadata_.emplace(key, value.get<std::string>());
      }
      continue;
    }
    const std::string tensor = fmt::format("{}: tensor {}", file, quote(name));
    if (!entry.is_object()) fail(ErrorKind::format, "{}: entry is a JSON {}, expected an object", tensor, entry.type_name());

    auto dtype_it = entry.find("dtype");
    if (dtype_it == entry.end() || !dtype_it->is_string()) {
      fail(ErrorKind::format, "{}: \"dtype\" is missing or not a string", tensor);
    }
    const std::string dtype_text = dtype_it->get<std::string>();
    std::optional<DType> dtype = parse_dtype(dtype_text);
    if (!dtype) {
      fail(ErrorKind::format, "{}: unknown dtype {}, expected one of F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL", tensor,
           quote(dtype_text));
    }

    auto shape_it = entry.find("shape");
    if (shape_it == entry.end() || !shape_it->is_array()) fail(ErrorKind::format, "{}: \"shape\" is missing or not an array", tensor);
    std::vector<std::int64_t> shape;
    for (const auto& dim : *shape_it) {
      std::optional<std::uint64_t> d = as_size(dim);
      if (!d || *d > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        fail(ErrorKind::format, "{}: shape {} has a dimension that is not a non-negative integer", tensor,
             shape_it->dump());
      }
      shape.push_back(static_cast<std::int64_t>(*d));
    }
    std::optional<std::uint64_t> numel = checked_numel(shape);
    std::uint64_t nbytes = 0;
    if (!numel || __builtin_mul_overflow(*numel, dtype_size(*dtype), &nbytes)) {
      fail(ErrorKind::format, "{}: shape {} has more elements than fit in memory", tensor, shape_text(shape));
    }

    auto offsets_it = entry.find("data_offsets");
    if (offsets_it == entry.end() || !offsets_it->is_array() || offsets_it->size() != 2 || !as_size((*offsets_it)[0]) ||
        !as_size((*offsets_it)[1])) {
      fail(ErrorKind::format, "{}: \"data_offsets\" must be [begin, end] with non-negative integers, found {}", tensor,
           offsets_it == entry.end() ? std::string("nothing") : offsets_it->dump());
    }
    const std::uint64_t begin = *as_size((*offsets_it)[0]);
    const std::uint64_t end = *as_size((*offsets_it)[1]);
    if (end < begin) fail(ErrorKind::format, "{}: data_offsets [{}, {}] end before they begin", tensor, begin, end);
    if (end > buffer_size) {
      fail(ErrorKind::format, "{}: data_offsets [{}, {}] run past the {}-byte data buffer (truncated file?)", tensor,
           begin, end, buffer_size);
    }
    if (end - begin != nbytes) {
      fail(ErrorKind::format, "{}: data_offsets [{}, {}] hold {} bytes, but shape {} of {} needs {}", tensor, begin,
           end, end - begin, shape_text(shape), dtype_text, nbytes);
    }
    auto [it, inserted] = tensors_.emplace(
        name, TensorRecord{name, *dtype, std::move(shape), buffer + begin, static_cast<std::size_t>(nbytes)});
    spans.push_back({begin, end, &it->first});
  }

  // As in the reference implementation: sorted by offsets, each tensor starts where the previous
  // one ended, and together they cover the buffer exactly, so no byte is shared or left over.
  std::sort(spans.begin(), spans.end(),
            [](const Span& a, const Span& b) { return std::tie(a.begin, a.end) < std::tie(b.begin, b.end); });
  std::uint64_t covered = 0;
  const Span* previous = nullptr;
  for (const Span& span : spans) {
    if (span.begin < covered) {
      fail(ErrorKind::format, "{}: tensor {}: data_offsets [{}, {}] overlap tensor {} at [{}, {}]", file,
           quote(*span.name), span.begin, span.end, quote(*previous->name), previous->begin, previous->end);
    }
    if (span.begin > covered) {
      fail(ErrorKind::format, "{}: tensor {}: data_offsets [{}, {}] leave bytes [{}, {}] of the data buffer unused", file,
           quote(*span.name), span.begin, span.end, covered, span.begin);
    }
    covered = span.end;
    previous = &span;
  }
  if (covered != buffer_size) {
    fail(ErrorKind::format, "{}: the tensors cover {} bytes but the data buffer has {} (bytes [{}, {}] unused)", file,
         covered, buffer_size, covered, buffer_size);
  }
}

const std::filesystem::path& SafetensorsFile::path() const { return file_->path(); }

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  out.reserve(tensors_.size());
  for (const auto& [name, record] : tensors_) out.push_back(name);
  return out;
}

bool SafetensorsFile::contains(const std::string& name) const { return tensors_.contains(name); }

const TensorRecord& SafetensorsFile::get(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) fail(ErrorKind::model, "{}: no tensor named {}", file_->path().string(), quote(name));
  return it->second;
}

const std::map<std::string, std::string>& SafetensorsFile::metadata() const { return metadata_; }

void write_safetensors(const std::filesystem::path& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  // ordered_json keeps "__metadata__" first and the tensors in layout order, as the reference
  // writer does, so a header can be read top to bottom alongside the data.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  for (const auto& [key, value] : metadata) {
    if (find_invalid_utf8(key) != std::string_view::npos || find_invalid_utf8(value) != std::string_view::npos) {
      fail(ErrorKind::input, "write_safetensors {}: metadata entry {} is not valid UTF-8", path.string(), quote(key));
    }
  }
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::set<std::string_view> seen;
  std::uint64_t offset = 0;
  for (const TensorToWrite& t : tensors) {
    if (find_invalid_utf8(t.name) != std::string_view::npos) {
      fail(ErrorKind::input, "write_safetensors {}: tensor name {} is not valid UTF-8", path.string(), quote(t.name));
    }
    if (t.name.empty() || t.name == "__metadata__") {
      fail(ErrorKind::internal, "write_safetensors {}: {} is not a valid tensor name", path.string(), quote(t.name));
    }
    if (!seen.insert(t.name).second) {
      fail(ErrorKind::internal, "write_safetensors {}: tensor {} is given twice", path.string(), quote(t.name));
    }
    std::optional<std::uint64_t> numel = checked_numel(t.shape);
    std::uint64_t nbytes = 0;
    if (!numel || __builtin_mul_overflow(*numel, dtype_size(t.dtype), &nbytes)) {
      fail(ErrorKind::internal, "write_safetensors {}: tensor {} has invalid shape {}", path.string(), quote(t.name),
           shape_text(t.shape));
    }
    if (nbytes != t.bytes.size()) {
      fail(ErrorKind::internal, "write_safetensors {}: tensor {} has {} bytes, but shape {} of {} needs {}",
           path.string(), quote(t.name), t.bytes.size(), shape_text(t.shape), dtype_name(t.dtype), nbytes);
    }
    header[t.name] = {{"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
  }
  std::string header_text = header.dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
  header_text.append((8 - header_text.size() % 8) % 8, ' ');
  const std::uint64_t header_size = header_text.size();

  AtomicOutput out(path);
  char length[8];
  std::memcpy(length, &header_size, 8);
  out.write(std::string_view(length, 8));
  out.write(header_text);
  for (const TensorToWrite& t : tensors) out.write(t.bytes);
  out.commit();
}

}  // namespace bertscope::io
