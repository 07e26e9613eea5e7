// A read-only, dense, row-major float32 array with shared ownership: what the engine produced
// (a recorded site, logits, a gradient), handed out without a copy. Copying an Array shares the
// same memory; the memory lives as long as any Array (or `owner()`) refers to it, so bindings
// can wrap `data()` as a NumPy array and keep `owner()` alive as its base.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace bertscope {

class Array {
 public:
  Array() = default;
  // `data` must hold the product of `shape` floats and stay valid while `owner` lives.
  Array(std::vector<std::int64_t> shape, std::shared_ptr<const float> data);
  // A new array that owns a copy of `values` (for inputs: head masks, replaced attention).
  static Array from_values(std::vector<std::int64_t> shape, const std::vector<float>& values);

  const std::vector<std::int64_t>& shape() const { return shape_; }
  std::size_t ndim() const { return shape_.size(); }
  std::int64_t dim(std::size_t i) const;  // throws Error(input) past the last axis
  std::int64_t size() const;              // number of elements
  bool empty() const { return data_ == nullptr; }
  const float* data() const { return data_.get(); }
  // The element at a full index, bounds-checked (throws Error(input)).
  float at(const std::vector<std::int64_t>& index) const;
  std::shared_ptr<const float> owner() const { return data_; }
  std::string shape_string() const;  // "[3, 4]"

 private:
  std::vector<std::int64_t> shape_;
  std::shared_ptr<const float> data_;
};

}  // namespace bertscope
