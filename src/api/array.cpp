#include "bertscope/array.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "io/error.hpp"

namespace bertscope {

Array::Array(std::vector<std::int64_t> shape, std::shared_ptr<const float> data) : shape_(std::move(shape)), data_(std::move(data)) {}

Array Array::from_values(std::vector<std::int64_t> shape, const std::vector<float>& values) {
  std::int64_t n = 1;
  for (auto d : shape) {
    if (d < 0) fail(ErrorKind::input, "array shape [{}]: a negative size", fmt::join(shape, ", "));
    n *= d;
  }
  if (static_cast<std::size_t>(n) != values.size())
    fail(ErrorKind::input, "array shape [{}] holds {} values, {} given", fmt::join(shape, ", "), n, values.size());
  auto owned = std::make_shared<std::vector<float>>(values);
  return Array(std::move(shape), std::shared_ptr<const float>(owned, owned->data()));
}

std::int64_t Array::dim(std::size_t i) const {
  if (i >= shape_.size()) fail(ErrorKind::input, "array {} has no axis {}", shape_string(), i);
  return shape_[i];
}

std::int64_t Array::size() const {
  if (!data_) return 0;
  std::int64_t n = 1;
  for (auto d : shape_) n *= d;
  return n;
}

float Array::at(const std::vector<std::int64_t>& index) const {
  if (index.size() != shape_.size() || !data_)
    fail(ErrorKind::input, "index of {} axes into array {}", index.size(), shape_string());
  std::int64_t flat = 0;
  for (std::size_t i = 0; i < index.size(); ++i) {
    if (index[i] < 0 || index[i] >= shape_[i])
      fail(ErrorKind::input, "index [{}] outside array {}", fmt::join(index, ", "), shape_string());
    flat = flat * shape_[i] + index[i];
  }
  return data_.get()[flat];
}

std::string Array::shape_string() const { return fmt::format("[{}]", fmt::join(shape_, ", ")); }

}  // namespace bertscope
