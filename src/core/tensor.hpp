// A dense, row-major float32 array that owns its (64-byte aligned) storage.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <new>
#include <span>
#include <utility>
#include <string>
#include <vector>

namespace bertscope::core {

// Allocator that aligns to a cache line so vector kernels can use aligned loads.
// Bytes held in AlignedAllocator buffers (every tensor and workspace) now and at most since the
// last reset: what the benchmarks report beside peak RSS, to tell live data from the rest.
std::size_t buffer_bytes();
std::size_t buffer_bytes_peak();
void reset_buffer_bytes_peak();
namespace detail {
void count_buffer_bytes(std::ptrdiff_t delta);
}

template <typename T>
struct AlignedAllocator {
  using value_type = T;
  static constexpr std::align_val_t alignment{64};
  AlignedAllocator() = default;
  template <typename U>
  AlignedAllocator(const AlignedAllocator<U>&) {}
  T* allocate(std::size_t n) {
    T* p = static_cast<T*>(::operator new(n * sizeof(T), alignment));
    detail::count_buffer_bytes(static_cast<std::ptrdiff_t>(n * sizeof(T)));
    return p;
  }
  void deallocate(T* p, std::size_t n) {
    ::operator delete(p, alignment);
    detail::count_buffer_bytes(-static_cast<std::ptrdiff_t>(n * sizeof(T)));
  }
  // Default-initialise: growing a buffer does not zero memory about to be overwritten (each
  // zeroed page would be written twice). Zero explicitly where zeros are needed.
  template <typename U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
  template <typename U, typename... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
  template <typename U>
  bool operator==(const AlignedAllocator<U>&) const { return true; }
};

using FloatBuffer = std::vector<float, AlignedAllocator<float>>;
using Shape = std::vector<std::int64_t>;

std::int64_t numel(const Shape& shape);
std::string shape_string(const Shape& shape);  // "[3, 4]"

struct Tensor {
  Shape shape;
  FloatBuffer data;

  Tensor() = default;
  explicit Tensor(Shape s) : shape(std::move(s)), data(static_cast<std::size_t>(numel(shape)), 0.0f) {}
  // Contents unspecified: for results that are written in full right away.
  static Tensor uninitialized(Shape s) {
    Tensor t;
    t.shape = std::move(s);
    t.data.resize(static_cast<std::size_t>(numel(t.shape)));
    return t;
  }
  Tensor(Shape s, float fill) : shape(std::move(s)), data(static_cast<std::size_t>(numel(shape)), fill) {}

  std::int64_t size() const { return static_cast<std::int64_t>(data.size()); }
  std::int64_t dim(std::size_t i) const { return shape.at(i); }
  float* ptr() { return data.data(); }
  const float* ptr() const { return data.data(); }
  std::span<float> span() { return data; }
  std::span<const float> span() const { return data; }
};

}  // namespace bertscope::core
