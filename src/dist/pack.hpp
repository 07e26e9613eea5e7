// Bytes for what travels between processes and into checkpoints (dist::Runner items): plain
// values and vectors of them, appended in a fixed order and read back in the same order. The
// bytes are this machine's representation, which all processes of one run share; a reader that
// runs out of bytes or has bytes left over throws Error(format) naming what it was reading.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "io/error.hpp"

namespace bertscope::dist {

class Packer {
 public:
  template <class T>
  void put(const T& value) {
    static_assert(std::is_trivially_copyable_v<T>);
    bytes_.append(reinterpret_cast<const char*>(&value), sizeof(T));
  }
  template <class T, class A>
  void put(const std::vector<T, A>& values) {
    static_assert(std::is_trivially_copyable_v<T>);
    put<std::uint64_t>(values.size());
    bytes_.append(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
  }
  void put(std::string_view text) {
    put<std::uint64_t>(text.size());
    bytes_.append(text);
  }
  void put(const std::vector<std::string>& texts) {
    put<std::uint64_t>(texts.size());
    for (const auto& t : texts) put(std::string_view(t));
  }
  std::string take() { return std::move(bytes_); }

 private:
  std::string bytes_;
};

class Unpacker {
 public:
  // `what` names the bytes in errors, e.g. "surface: the stored results of block 3".
  Unpacker(std::string_view bytes, std::string what) : bytes_(bytes), what_(std::move(what)) {}

  template <class T>
  T get() {
    static_assert(std::is_trivially_copyable_v<T>);
    T value;
    std::memcpy(&value, take(sizeof(T)), sizeof(T));
    return value;
  }
  template <class T, class A = std::allocator<T>>
  std::vector<T, A> get_vector() {
    static_assert(std::is_trivially_copyable_v<T>);
    const auto n = get<std::uint64_t>();
    if (n > (bytes_.size() - at_) / (sizeof(T) ? sizeof(T) : 1)) damaged();
    std::vector<T, A> values(n);
    if (n > 0) std::memcpy(values.data(), take(n * sizeof(T)), n * sizeof(T));
    return values;
  }
  std::string get_string() {
    const auto n = get<std::uint64_t>();
    if (n > bytes_.size() - at_) damaged();
    return std::string(take(n), n);
  }
  std::vector<std::string> get_strings() {
    const auto n = get<std::uint64_t>();
    if (n > (bytes_.size() - at_) / sizeof(std::uint64_t)) damaged();
    std::vector<std::string> texts(n);
    for (auto& t : texts) t = get_string();
    return texts;
  }
  // All bytes were read: throws when some are left (a reader that disagrees with its writer).
  void done() const {
    if (at_ != bytes_.size()) damaged();
  }

 private:
  const char* take(std::size_t n) {
    if (n > bytes_.size() - at_) damaged();
    const char* p = bytes_.data() + at_;
    at_ += n;
    return p;
  }
  [[noreturn]] void damaged() const {
    fail(ErrorKind::format, "{} are damaged ({} bytes, read up to byte {})", what_, bytes_.size(), at_);
  }

  std::string_view bytes_;
  std::string what_;
  std::size_t at_ = 0;
};

}  // namespace bertscope::dist
