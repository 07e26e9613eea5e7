#include "core/tensor.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace bertscope::core {

std::int64_t numel(const Shape& shape) {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

std::string shape_string(const Shape& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

}  // namespace bertscope::core
