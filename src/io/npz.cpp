#include "io/npz.hpp"
#include "io/float16.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <mutex>
#include <optional>
#include <set>
#include <system_error>
#include <unordered_map>

#include "io/atomic_output.hpp"
#include "io/error.hpp"
#include "io/files.hpp"
#include "io/safetensors.hpp"

namespace bertscope::io {
namespace {

static_assert(std::endian::native == std::endian::little, "bertscope assumes a little-endian host");

constexpr char kMagic[] = "\x93NUMPY";
constexpr std::size_t kMagicSize = 6;
// numpy aligns the start of the data to 64 bytes so the array can be memory-mapped.
constexpr std::size_t kAlign = 64;
// Far beyond any real descriptor; keeps itemsize arithmetic from overflowing.
constexpr std::uint64_t kMaxUnicodeLength = std::uint64_t{1} << 40;

// A NumPy dtype descriptor of one of the types bertscope reads and writes.
struct Descr {
  char kind;                // 'b' bool, 'i' signed, 'u' unsigned, 'f' float, 'U' UTF-32 string
  std::uint64_t itemsize;   // bytes per element
  bool big_endian = false;

  std::uint64_t swap_unit() const { return kind == 'U' ? 4 : itemsize; }
  std::string canonical() const {
    if (kind == 'U') return fmt::format("<U{}", itemsize / 4);
    return fmt::format("{}{}{}", itemsize == 1 ? '|' : '<', kind, itemsize);
  }
};

std::optional<Descr> parse_descr(std::string_view text) {
  char order = '=';
  if (!text.empty() && std::strchr("<>|=", text.front()) != nullptr) {
    order = text.front();
    text.remove_prefix(1);
  }
  if (text.size() < 2) return std::nullopt;
  const char kind = text.front();
  text.remove_prefix(1);
  std::uint64_t n = 0;
  for (char c : text) {
    if (c < '0' || c > '9' || n > kMaxUnicodeLength) return std::nullopt;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  Descr d{kind, n, order == '>'};
  switch (kind) {
    case 'b': return n == 1 ? std::optional(d) : std::nullopt;
    case 'i':
    case 'u': return (n == 1 || n == 2 || n == 4 || n == 8) ? std::optional(d) : std::nullopt;
    case 'f': return (n == 2 || n == 4 || n == 8) ? std::optional(d) : std::nullopt;
    case 'U':
      if (n > kMaxUnicodeLength) return std::nullopt;
      d.itemsize = 4 * n;
      return d;
    default: return std::nullopt;
  }
}

constexpr std::string_view kSupported = "b1, i1-i8, u1-u8, f2-f8 and U";

std::string shape_tuple(std::span<const std::int64_t> shape) {
  if (shape.size() == 1) return fmt::format("({},)", shape[0]);
  return fmt::format("({})", fmt::join(shape, ", "));
}

// numel x itemsize, or nullopt for negative dimensions and overflow.
std::optional<std::uint64_t> checked_nbytes(std::span<const std::int64_t> shape, std::uint64_t itemsize) {
  std::uint64_t numel = 1;
  for (std::int64_t d : shape) {
    if (d < 0 || __builtin_mul_overflow(numel, static_cast<std::uint64_t>(d), &numel)) return std::nullopt;
  }
  if (numel > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
  std::uint64_t nbytes = 0;
  if (__builtin_mul_overflow(numel, itemsize, &nbytes)) return std::nullopt;
  return nbytes;
}

// Validates what a writer was given and returns the canonical descr and the data size.
std::pair<Descr, std::uint64_t> check_array(std::string_view who, const std::string& descr,
                                            std::span<const std::int64_t> shape) {
  std::optional<Descr> d = parse_descr(descr);
  if (!d) fail(ErrorKind::internal, "{}: unsupported dtype {} (supported: {})", who, quote(descr), kSupported);
  if (d->big_endian && d->itemsize > 1) {
    fail(ErrorKind::internal, "{}: dtype {} is big-endian; bertscope writes little-endian data", who, quote(descr));
  }
  std::optional<std::uint64_t> nbytes = checked_nbytes(shape, d->itemsize);
  if (!nbytes) fail(ErrorKind::internal, "{}: invalid shape {}", who, shape_tuple(shape));
  return {*d, *nbytes};
}

std::string npy_header(const Descr& descr, std::span<const std::int64_t> shape) {
  std::string dict =
      fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}", descr.canonical(), shape_tuple(shape));
  auto padded = [&](std::size_t prefix) { return (prefix + dict.size() + 1 + kAlign - 1) / kAlign * kAlign; };
  std::size_t prefix = 10;
  std::size_t total = padded(prefix);
  // Version 1.0 stores the header length in 16 bits; 2.0 exists for longer headers.
  if (total - prefix > 0xFFFF) {
    prefix = 12;
    total = padded(prefix);
  }
  const std::uint32_t header_len = static_cast<std::uint32_t>(total - prefix);
  std::string out(kMagic, kMagicSize);
  out += static_cast<char>(prefix == 10 ? 1 : 2);
  out += '\0';
  out += static_cast<char>(header_len & 0xFF);
  out += static_cast<char>((header_len >> 8) & 0xFF);
  if (prefix == 12) {
    out += static_cast<char>((header_len >> 16) & 0xFF);
    out += static_cast<char>((header_len >> 24) & 0xFF);
  }
  out += dict;
  out.append(total - out.size() - 1, ' ');
  out += '\n';
  return out;
}

// --- reading -------------------------------------------------------------------------------

// The Python dict literal of an .npy header, e.g.
// {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
class HeaderParser {
 public:
  HeaderParser(std::string_view text, const std::string& source) : text_(text), source_(source) {}

  void parse(std::string& descr, bool& fortran_order, std::vector<std::int64_t>& shape) {
    std::set<std::string> seen;
    expect('{');
    while (true) {
      skip_space();
      if (peek() == '}') break;
      std::string key = string_literal();
      expect(':');
      skip_space();
      if (!seen.insert(key).second) error(fmt::format("key {} appears twice", quote(key)));
      if (key == "descr") {
        if (peek() != '\'' && peek() != '"') {
          fail(ErrorKind::format, "{}: structured (record) dtypes are not supported", source_);
        }
        descr = string_literal();
      } else if (key == "fortran_order") {
        fortran_order = boolean();
      } else if (key == "shape") {
        shape = tuple();
      } else {
        error(fmt::format("unexpected key {}", quote(key)));
      }
      skip_space();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() != '}') error("expected ',' or '}'");
    }
    ++pos_;
    skip_space();
    if (pos_ != text_.size()) error("unexpected text after '}'");
    for (const char* key : {"descr", "fortran_order", "shape"}) {
      if (!seen.contains(key)) error(fmt::format("missing key '{}'", key));
    }
  }

 private:
  [[noreturn]] void error(std::string_view what) const {
    fail(ErrorKind::format, "{}: malformed .npy header {}: {} at offset {}", source_, quote(text_), what, pos_);
  }
  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }
  void expect(char c) {
    skip_space();
    if (peek() != c) error(fmt::format("expected '{}'", c));
    ++pos_;
  }
  std::string string_literal() {
    const char quote = peek();
    if (quote != '\'' && quote != '"') error("expected a string");
    std::size_t end = text_.find(quote, pos_ + 1);
    if (end == std::string_view::npos) error("unterminated string");
    std::string value(text_.substr(pos_ + 1, end - pos_ - 1));
    if (value.find('\\') != std::string::npos) error("escapes in strings are not supported");
    pos_ = end + 1;
    return value;
  }
  bool boolean() {
    if (text_.substr(pos_, 4) == "True") {
      pos_ += 4;
      return true;
    }
    if (text_.substr(pos_, 5) == "False") {
      pos_ += 5;
      return false;
    }
    error("expected True or False");
  }
  std::vector<std::int64_t> tuple() {
    std::vector<std::int64_t> values;
    expect('(');
    while (true) {
      skip_space();
      if (peek() == ')') break;
      if (peek() < '0' || peek() > '9') error("expected a non-negative integer dimension");
      std::int64_t v = 0;
      while (peek() >= '0' && peek() <= '9') {
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, peek() - '0', &v)) {
          error("dimension too large");
        }
        ++pos_;
      }
      if (peek() == 'L') ++pos_;  // Python 2 wrote long integers as "3L"
      values.push_back(v);
      skip_space();
      if (peek() == ',') {
        ++pos_;
      } else if (peek() != ')') {
        error("expected ',' or ')'");
      }
    }
    ++pos_;
    return values;
  }

  std::string_view text_;
  const std::string& source_;
  std::size_t pos_ = 0;
};

// Reads exactly n bytes into out or throws naming the source.
using ReadExact = std::function<void(std::byte* out, std::size_t n)>;

void byte_swap(std::vector<std::byte>& bytes, std::uint64_t unit) {
  for (std::size_t i = 0; i + unit <= bytes.size(); i += unit) std::reverse(bytes.begin() + i, bytes.begin() + i + unit);
}

// Reorders a Fortran-ordered (column-major) array into C order.
std::vector<std::byte> fortran_to_c(const std::vector<std::byte>& f, const std::vector<std::int64_t>& shape,
                                    std::size_t itemsize) {
  const std::size_t ndim = shape.size();
  const std::size_t numel = itemsize == 0 ? 0 : f.size() / itemsize;
  if (numel == 0 || ndim < 2) return f;
  std::vector<std::byte> c(f.size());
  std::vector<std::size_t> f_stride(ndim);
  std::size_t stride = 1;
  for (std::size_t j = 0; j < ndim; ++j) {
    f_stride[j] = stride;
    stride *= static_cast<std::size_t>(shape[j]);
  }
  std::vector<std::int64_t> index(ndim, 0);
  std::size_t f_offset = 0;
  for (std::size_t i = 0; i < numel; ++i) {
    std::memcpy(c.data() + i * itemsize, f.data() + f_offset * itemsize, itemsize);
    // Advance the C-order index (last axis fastest), keeping f_offset in step.
    for (std::size_t j = ndim; j-- > 0;) {
      if (++index[j] < shape[j]) {
        f_offset += f_stride[j];
        break;
      }
      f_offset -= f_stride[j] * static_cast<std::size_t>(index[j] - 1);
      index[j] = 0;
    }
  }
  return c;
}

NpyArray read_npy_stream(const ReadExact& read, std::uint64_t total_size, const std::string& source) {
  if (total_size < 10) fail(ErrorKind::format, "{}: {} bytes, too short for an .npy array", source, total_size);
  std::byte prefix[12];
  read(prefix, 10);
  if (std::memcmp(prefix, kMagic, kMagicSize) != 0) fail(ErrorKind::format, "{}: not an .npy array (bad magic)", source);
  const auto major = static_cast<unsigned>(prefix[6]);
  const auto minor = static_cast<unsigned>(prefix[7]);
  std::uint64_t prefix_size = 10;
  std::uint64_t header_len = static_cast<std::uint64_t>(prefix[8]) | static_cast<std::uint64_t>(prefix[9]) << 8;
  if (major == 2 || major == 3) {
    if (total_size < 12) fail(ErrorKind::format, "{}: {} bytes, too short for an .npy array", source, total_size);
    read(prefix + 10, 2);
    prefix_size = 12;
    header_len |= static_cast<std::uint64_t>(prefix[10]) << 16 | static_cast<std::uint64_t>(prefix[11]) << 24;
  } else if (major != 1) {
    fail(ErrorKind::format, "{}: unsupported .npy format version {}.{}", source, major, minor);
  }
  if (header_len > total_size - prefix_size) {
    fail(ErrorKind::format, "{}: .npy header length {} runs past the end of the {}-byte array (truncated?)", source,
         header_len, total_size);
  }
  std::string header(header_len, '\0');
  read(reinterpret_cast<std::byte*>(header.data()), header.size());

  std::string descr_text;
  bool fortran_order = false;
  NpyArray array;
  HeaderParser(header, source).parse(descr_text, fortran_order, array.shape);
  std::optional<Descr> descr = parse_descr(descr_text);
  if (!descr) fail(ErrorKind::format, "{}: unsupported dtype {} (supported: {})", source, quote(descr_text), kSupported);
  std::optional<std::uint64_t> nbytes = checked_nbytes(array.shape, descr->itemsize);
  if (!nbytes) fail(ErrorKind::format, "{}: shape {} is too large", source, shape_tuple(array.shape));
  const std::uint64_t data_size = total_size - prefix_size - header_len;
  if (data_size != *nbytes) {
    fail(ErrorKind::format, "{}: holds {} bytes of data, but shape {} of {} needs {}", source, data_size,
         shape_tuple(array.shape), descr_text, *nbytes);
  }
  array.bytes.resize(*nbytes);
  read(array.bytes.data(), array.bytes.size());
  if (descr->big_endian && descr->swap_unit() > 1) byte_swap(array.bytes, descr->swap_unit());
  if (fortran_order) array.bytes = fortran_to_c(array.bytes, array.shape, descr->itemsize);
  array.descr = descr->canonical();
  array.source = source;
  return array;
}

// --- conversions ---------------------------------------------------------------------------

template <typename T>
T load(const std::byte* p) {
  T value;
  std::memcpy(&value, p, sizeof value);
  return value;
}

Descr checked_descr(const NpyArray& a) {
  std::optional<Descr> d = parse_descr(a.descr);
  if (!d || (d->big_endian && d->swap_unit() > 1)) {
    fail(ErrorKind::format, "{}: unsupported dtype {} (supported: {})", a.source, quote(a.descr), kSupported);
  }
  std::optional<std::uint64_t> nbytes = checked_nbytes(a.shape, d->itemsize);
  if (!nbytes || *nbytes != a.bytes.size()) {
    fail(ErrorKind::internal, "{}: array of shape {} and dtype {} holds {} bytes", a.source, shape_tuple(a.shape),
         a.descr, a.bytes.size());
  }
  return *d;
}

template <typename Out>
std::vector<Out> floats(const NpyArray& a, const char* target) {
  Descr d = checked_descr(a);
  if (d.kind != 'f') fail(ErrorKind::format, "{}: array of dtype {} cannot be read as {}", a.source, a.descr, target);
  const std::size_t n = a.bytes.size() / d.itemsize;
  std::vector<Out> out(n);
  const std::byte* p = a.bytes.data();
  for (std::size_t i = 0; i < n; ++i, p += d.itemsize) {
    switch (d.itemsize) {
      case 2: out[i] = static_cast<Out>(half_to_float(load<std::uint16_t>(p))); break;
      case 4: out[i] = static_cast<Out>(load<float>(p)); break;
      default: out[i] = static_cast<Out>(load<double>(p)); break;
    }
  }
  return out;
}

// UTF-8 encoding of one code point; false for surrogates and values beyond U+10FFFF.
bool append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    if (cp >= 0xD800 && cp <= 0xDFFF) return false;
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp <= 0x10FFFF) {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    return false;
  }
  return true;
}

// Decodes valid UTF-8 (checked by the caller) into code points.
std::vector<std::uint32_t> utf8_to_code_points(std::string_view s) {
  std::vector<std::uint32_t> out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t length = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    std::uint32_t cp = length == 1 ? c : length == 2 ? (c & 0x1F) : length == 3 ? (c & 0x0F) : (c & 0x07);
    for (std::size_t k = 1; k < length; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    out.push_back(cp);
    i += length;
  }
  return out;
}

std::string zip_error_text(int code) {
  zip_error_t error;
  zip_error_init_with_code(&error, code);
  std::string text = zip_error_strerror(&error);
  zip_error_fini(&error);
  return text;
}

}  // namespace

std::int64_t NpyArray::numel() const {
  std::int64_t n = 1;
  for (std::int64_t d : shape) n *= d;
  return n;
}

std::vector<float> NpyArray::to_f32() const { return floats<float>(*this, "float32"); }

std::vector<double> NpyArray::to_f64() const { return floats<double>(*this, "float64"); }

std::vector<std::int64_t> NpyArray::to_i64() const {
  Descr d = checked_descr(*this);
  if (d.kind != 'i' && d.kind != 'u' && d.kind != 'b') {
    fail(ErrorKind::format, "{}: array of dtype {} cannot be read as int64", source, descr);
  }
  const std::size_t n = bytes.size() / d.itemsize;
  std::vector<std::int64_t> out(n);
  const std::byte* p = bytes.data();
  for (std::size_t i = 0; i < n; ++i, p += d.itemsize) {
    if (d.kind == 'b') {
      out[i] = load<std::uint8_t>(p) != 0 ? 1 : 0;
    } else if (d.kind == 'i') {
      switch (d.itemsize) {
        case 1: out[i] = load<std::int8_t>(p); break;
        case 2: out[i] = load<std::int16_t>(p); break;
        case 4: out[i] = load<std::int32_t>(p); break;
        default: out[i] = load<std::int64_t>(p); break;
      }
    } else {
      std::uint64_t v = 0;
      std::memcpy(&v, p, d.itemsize);
      if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        fail(ErrorKind::format, "{}: element {} = {} does not fit in int64", source, i, v);
      }
      out[i] = static_cast<std::int64_t>(v);
    }
  }
  return out;
}

std::vector<std::string> NpyArray::to_strings() const {
  Descr d = checked_descr(*this);
  if (d.kind != 'U') fail(ErrorKind::format, "{}: array of dtype {} cannot be read as strings", source, descr);
  const std::size_t width = d.itemsize / 4;
  const std::size_t n = width == 0 ? static_cast<std::size_t>(numel()) : bytes.size() / d.itemsize;
  std::vector<std::string> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::byte* p = bytes.data() + i * d.itemsize;
    // numpy pads with NUL code points and drops trailing ones when reading.
    std::size_t length = width;
    while (length > 0 && load<std::uint32_t>(p + 4 * (length - 1)) == 0) --length;
    for (std::size_t k = 0; k < length; ++k) {
      std::uint32_t cp = load<std::uint32_t>(p + 4 * k);
      if (!append_utf8(out[i], cp)) {
        fail(ErrorKind::format, "{}: element {} holds U+{:04X}, which is not a Unicode scalar value", source, i, cp);
      }
    }
  }
  return out;
}

std::string npy_bytes(const std::string& descr, std::span<const std::int64_t> shape, std::span<const std::byte> data) {
  auto [d, nbytes] = check_array("npy_bytes", descr, shape);
  if (nbytes != data.size()) {
    fail(ErrorKind::internal, "npy_bytes: {} bytes given, shape {} of {} needs {}", data.size(), shape_tuple(shape),
         descr, nbytes);
  }
  std::string out = npy_header(d, shape);
  out.append(reinterpret_cast<const char*>(data.data()), data.size());
  return out;
}

void write_npy(const std::filesystem::path& path, const std::string& descr, std::span<const std::int64_t> shape,
               std::span<const std::byte> data) {
  const std::string who = fmt::format("write_npy {}", path.string());
  auto [d, nbytes] = check_array(who, descr, shape);
  if (nbytes != data.size()) {
    fail(ErrorKind::internal, "{}: {} bytes given, shape {} of {} needs {}", who, data.size(), shape_tuple(shape),
         descr, nbytes);
  }
  AtomicOutput out(path);
  out.write(npy_header(d, shape));
  out.write(data);
  out.commit();
}

NpyArray read_npy(const std::filesystem::path& path) {
  MappedFile file(path);
  std::size_t position = 0;
  const std::string source = path.string();
  ReadExact read = [&](std::byte* out, std::size_t n) {
    if (n > file.size() - position) fail(ErrorKind::format, "{}: truncated .npy file", source);
    if (n > 0) std::memcpy(out, file.data() + position, n);
    position += n;
  };
  return read_npy_stream(read, file.size(), source);
}

// --- NpzWriter -----------------------------------------------------------------------------

struct NpzWriter::Impl {
  std::filesystem::path target;
  std::filesystem::path archive_path;  // reserved beside the target; libzip writes it on close
  std::filesystem::path spool_path;    // member bytes, read back by libzip on close
  int spool_fd = -1;
  std::uint64_t spool_size = 0;
  zip_t* zip = nullptr;
  std::set<std::string, std::less<>> names;
  bool committed = false;
  bool broken = false;  // an I/O step failed part-way; the archive cannot be trusted

  struct Open {
    std::string name;
    std::uint64_t begin, header_size, expected, written;
  };
  std::optional<Open> open;

  std::string who() const { return fmt::format("NpzWriter {}", target.string()); }

  void check_usable() const {
    if (committed) fail(ErrorKind::internal, "{}: used after commit", who());
    if (broken) fail(ErrorKind::internal, "{}: used after an earlier write failed", who());
  }

  void check_new_name(const std::string& name) const {
    if (name.empty() || name.find('\0') != std::string::npos || find_invalid_utf8(name) != std::string_view::npos) {
      fail(ErrorKind::internal, "{}: {} is not a valid member name", who(), quote(name));
    }
    if (names.contains(name)) fail(ErrorKind::internal, "{}: member {} is added twice", who(), quote(name));
  }

  void spool(std::span<const std::byte> bytes) {
    write_all(spool_fd, bytes, target);
    spool_size += bytes.size();
  }

  void register_member(const std::string& name, std::uint64_t begin, std::uint64_t length) {
    zip_error_t error;
    zip_error_init(&error);
    zip_source_t* source = zip_source_file_create(spool_path.c_str(), begin, static_cast<zip_int64_t>(length), &error);
    if (source == nullptr) {
      std::string text = zip_error_strerror(&error);
      zip_error_fini(&error);
      fail(ErrorKind::io, "cannot write {}: {}", target.string(), text);
    }
    zip_error_fini(&error);
    const std::string member = name + ".npy";
    zip_int64_t index = zip_file_add(zip, member.c_str(), source, ZIP_FL_ENC_UTF_8);
    if (index < 0) {
      zip_source_free(source);
      fail(ErrorKind::io, "cannot write {}: member {}: {}", target.string(), quote(name), zip_strerror(zip));
    }
    // Stored, not deflated: attention maps barely compress, and stored members can be mapped.
    if (zip_set_file_compression(zip, static_cast<zip_uint64_t>(index), ZIP_CM_STORE, 0) != 0) {
      fail(ErrorKind::io, "cannot write {}: member {}: {}", target.string(), quote(name), zip_strerror(zip));
    }
    names.insert(name);
  }

  // Runs an I/O step; if it throws, the writer is marked broken.
  template <typename F>
  void io_step(F&& step) {
    try {
      step();
    } catch (...) {
      broken = true;
      throw;
    }
  }

  void add(const std::string& name, const std::string& descr, std::span<const std::int64_t> shape,
           std::span<const std::byte> data) {
    check_usable();
    if (open) fail(ErrorKind::internal, "{}: member {} is still open", who(), quote(open->name));
    check_new_name(name);
    auto [d, nbytes] = check_array(fmt::format("{}: member {}", who(), quote(name)), descr, shape);
    if (nbytes != data.size()) {
      fail(ErrorKind::internal, "{}: member {}: {} bytes given, shape {} of {} needs {}", who(), quote(name),
           data.size(), shape_tuple(shape), descr, nbytes);
    }
    const std::string header = npy_header(d, shape);
    io_step([&] {
      const std::uint64_t begin = spool_size;
      spool(std::as_bytes(std::span(header.data(), header.size())));
      spool(data);
      register_member(name, begin, spool_size - begin);
    });
  }

  ~Impl() { cleanup(); }

  void cleanup() noexcept {
    if (zip != nullptr) {
      zip_discard(zip);
      zip = nullptr;
    }
    if (spool_fd >= 0) {
      ::close(spool_fd);
      spool_fd = -1;
    }
    if (!spool_path.empty()) ::unlink(spool_path.c_str());
    if (!committed && !archive_path.empty()) ::unlink(archive_path.c_str());
  }
};

NpzWriter::NpzWriter(std::filesystem::path target) : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  s.target = std::move(target);
  // Reserving the archive's name with O_EXCL keeps two writers of the same target apart.
  ::close(create_file_beside(s.target, ".tmp", s.archive_path));
  s.spool_fd = create_file_beside(s.target, ".spool", s.spool_path);
  int code = 0;
  s.zip = zip_open(s.archive_path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &code);
  if (s.zip == nullptr) fail(ErrorKind::io, "cannot write {}: {}", s.target.string(), zip_error_text(code));
}

NpzWriter::~NpzWriter() = default;

void NpzWriter::add_f32(const std::string& name, std::span<const std::int64_t> shape, std::span<const float> data) {
  impl_->add(name, "<f4", shape, std::as_bytes(data));
}

void NpzWriter::add_f64(const std::string& name, std::span<const std::int64_t> shape, std::span<const double> data) {
  impl_->add(name, "<f8", shape, std::as_bytes(data));
}

void NpzWriter::add_i64(const std::string& name, std::span<const std::int64_t> shape,
                        std::span<const std::int64_t> data) {
  impl_->add(name, "<i8", shape, std::as_bytes(data));
}

void NpzWriter::add_i32(const std::string& name, std::span<const std::int64_t> shape,
                        std::span<const std::int32_t> data) {
  impl_->add(name, "<i4", shape, std::as_bytes(data));
}

void NpzWriter::add_strings(const std::string& name, std::span<const std::int64_t> shape,
                            const std::vector<std::string>& data) {
  std::vector<std::vector<std::uint32_t>> decoded;
  decoded.reserve(data.size());
  std::size_t width = 1;  // numpy gives arrays of empty strings the dtype <U1
  for (std::size_t i = 0; i < data.size(); ++i) {
    if (std::size_t bad = find_invalid_utf8(data[i]); bad != std::string_view::npos) {
      fail(ErrorKind::input, "{}: member {}: element {} is not valid UTF-8 (byte {})", impl_->who(), quote(name), i,
           bad);
    }
    decoded.push_back(utf8_to_code_points(data[i]));
    width = std::max(width, decoded.back().size());
  }
  std::vector<std::uint32_t> units(decoded.size() * width, 0);
  for (std::size_t i = 0; i < decoded.size(); ++i) std::copy(decoded[i].begin(), decoded[i].end(), units.begin() + i * width);
  impl_->add(name, fmt::format("<U{}", width), shape, std::as_bytes(std::span(units)));
}

void NpzWriter::add_raw(const std::string& name, const std::string& descr, std::span<const std::int64_t> shape,
                        std::span<const std::byte> data) {
  impl_->add(name, descr, shape, data);
}

void NpzWriter::begin_array(const std::string& name, const std::string& descr, std::span<const std::int64_t> shape) {
  Impl& s = *impl_;
  s.check_usable();
  if (s.open) fail(ErrorKind::internal, "{}: member {} is still open", s.who(), quote(s.open->name));
  s.check_new_name(name);
  const auto [d, nbytes] = check_array(fmt::format("{}: member {}", s.who(), quote(name)), descr, shape);
  const std::string header = npy_header(d, shape);
  const std::uint64_t expected = nbytes;  // clang before 16 cannot capture structured bindings
  s.io_step([&] {
    const std::uint64_t begin = s.spool_size;
    s.spool(std::as_bytes(std::span(header.data(), header.size())));
    s.open = Impl::Open{name, begin, header.size(), expected, 0};
  });
}

void NpzWriter::append(std::span<const std::byte> data) {
  Impl& s = *impl_;
  s.check_usable();
  if (!s.open) fail(ErrorKind::internal, "{}: append without begin_array", s.who());
  if (data.size() > s.open->expected - s.open->written) {
    fail(ErrorKind::internal, "{}: member {}: appending {} bytes would exceed the {} its shape holds", s.who(),
         quote(s.open->name), data.size(), s.open->expected);
  }
  s.io_step([&] {
    s.spool(data);
    s.open->written += data.size();
  });
}

void NpzWriter::end_array() {
  Impl& s = *impl_;
  s.check_usable();
  if (!s.open) fail(ErrorKind::internal, "{}: end_array without begin_array", s.who());
  if (s.open->written != s.open->expected) {
    fail(ErrorKind::internal, "{}: member {}: {} bytes appended, its shape needs {}", s.who(), quote(s.open->name),
         s.open->written, s.open->expected);
  }
  s.io_step([&] {
    s.register_member(s.open->name, s.open->begin, s.open->header_size + s.open->expected);
    s.open.reset();
  });
}

void NpzWriter::commit() {
  Impl& s = *impl_;
  s.check_usable();
  if (s.open) fail(ErrorKind::internal, "{}: member {} is still open", s.who(), quote(s.open->name));
  s.io_step([&] {
    if (s.names.empty()) {
      // libzip deletes an archive with no entries instead of writing it; numpy.savez() with no
      // arrays writes the 22-byte end-of-central-directory record alone, and so do we.
      zip_discard(s.zip);
      s.zip = nullptr;
      ::unlink(s.archive_path.c_str());
      s.archive_path.clear();
      const char empty_zip[22] = {'P', 'K', 5, 6};
      write_file_atomic(s.target, std::string_view(empty_zip, sizeof empty_zip));
    } else {
      if (zip_close(s.zip) != 0) fail(ErrorKind::io, "cannot write {}: {}", s.target.string(), zip_strerror(s.zip));
      s.zip = nullptr;
      publish_file(s.archive_path, s.target);
    }
    s.committed = true;
  });
  s.cleanup();
}

// --- NpzReader -----------------------------------------------------------------------------

struct NpzReader::Impl {
  std::filesystem::path path;
  std::uint64_t file_size = 0;
  zip_t* zip = nullptr;
  std::vector<std::string> names;
  std::unordered_map<std::string, zip_uint64_t> index;
  std::mutex mutex;  // a zip_t is not safe for concurrent use

  ~Impl() {
    if (zip != nullptr) zip_discard(zip);
  }
};

NpzReader::NpzReader(const std::filesystem::path& path) : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  s.path = path;
  const std::string file = path.string();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(ErrorKind::io, "cannot open {}: {}", file, errno_text(errno));
  struct stat info {};
  if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    ::close(fd);
    fail(ErrorKind::io, "cannot open {}: not a regular file", file);
  }
  s.file_size = static_cast<std::uint64_t>(info.st_size);
  int code = 0;
  s.zip = zip_fdopen(fd, 0, &code);  // owns fd from here on success
  if (s.zip == nullptr) {
    ::close(fd);
    fail(ErrorKind::format, "{}: not a readable .npz (zip) archive: {}", file, zip_error_text(code));
  }
  const zip_int64_t count = zip_get_num_entries(s.zip, 0);
  for (zip_int64_t i = 0; i < count; ++i) {
    const char* name = zip_get_name(s.zip, static_cast<zip_uint64_t>(i), ZIP_FL_ENC_GUESS);
    if (name == nullptr) continue;
    std::string_view member = name;
    if (!member.ends_with(".npy")) continue;
    std::string key(member.substr(0, member.size() - 4));
    if (s.index.emplace(key, static_cast<zip_uint64_t>(i)).second) s.names.push_back(std::move(key));
  }
}

NpzReader::~NpzReader() = default;

std::vector<std::string> NpzReader::names() const { return impl_->names; }

bool NpzReader::contains(const std::string& name) const { return impl_->index.contains(name); }

NpyArray NpzReader::read(const std::string& name) const {
  Impl& s = *impl_;
  const std::string source = fmt::format("{}: member {}", s.path.string(), quote(name));
  auto found = s.index.find(name);
  if (found == s.index.end()) {
    fail(ErrorKind::format, "{}: no such member (the archive holds {} arrays)", source, s.names.size());
  }
  std::lock_guard lock(s.mutex);
  zip_stat_t st;
  zip_stat_init(&st);
  if (zip_stat_index(s.zip, found->second, 0, &st) != 0 || (st.valid & ZIP_STAT_SIZE) == 0 ||
      (st.valid & ZIP_STAT_COMP_SIZE) == 0) {
    fail(ErrorKind::format, "{}: cannot read its zip entry: {}", source, zip_strerror(s.zip));
  }
  // The directory states sizes; refuse ones that cannot be true before allocating for them.
  if (st.comp_size > s.file_size) {
    fail(ErrorKind::format, "{}: zip entry claims {} compressed bytes in a {}-byte file", source, st.comp_size,
         s.file_size);
  }
  if ((st.valid & ZIP_STAT_COMP_METHOD) != 0 && st.comp_method == ZIP_CM_STORE && st.comp_size != st.size) {
    fail(ErrorKind::format, "{}: stored zip entry claims {} bytes but holds {}", source, st.size, st.comp_size);
  }
  // Deflate expands at most about 1032:1.
  if (st.size / 1100 > st.comp_size + 1024) {
    fail(ErrorKind::format, "{}: zip entry claims {} bytes from {} compressed bytes", source, st.size, st.comp_size);
  }
  zip_file_t* member = zip_fopen_index(s.zip, found->second, 0);
  if (member == nullptr) fail(ErrorKind::format, "{}: cannot open: {}", source, zip_strerror(s.zip));
  struct Closer {
    zip_file_t* f;
    ~Closer() { zip_fclose(f); }
  } closer{member};
  ReadExact read = [&](std::byte* out, std::size_t n) {
    while (n > 0) {
      zip_int64_t got = zip_fread(member, out, n);
      if (got < 0) fail(ErrorKind::format, "{}: {}", source, zip_file_strerror(member));
      if (got == 0) fail(ErrorKind::format, "{}: data ends early (truncated archive?)", source);
      out += got;
      n -= static_cast<std::size_t>(got);
    }
  };
  NpyArray array = read_npy_stream(read, st.size, source);
  // libzip checks the CRC only once a read reaches the end of the entry.
  std::byte extra;
  zip_int64_t tail = zip_fread(member, &extra, 1);
  if (tail < 0) fail(ErrorKind::format, "{}: {}", source, zip_file_strerror(member));
  if (tail > 0) fail(ErrorKind::format, "{}: holds more data than its zip entry states", source);
  return array;
}

}  // namespace bertscope::io
