#include "core/tensor.hpp"

#include <algorithm>
#include <atomic>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace bertscope::core {

namespace {
std::atomic<std::ptrdiff_t> live_bytes{0}, peak_bytes{0};
}

namespace detail {
void count_buffer_bytes(std::ptrdiff_t delta) {
  const auto now = live_bytes.fetch_add(delta, std::memory_order_relaxed) + delta;
  auto peak = peak_bytes.load(std::memory_order_relaxed);
  while (now > peak && !peak_bytes.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
}
}  // namespace detail

std::size_t buffer_bytes() { return static_cast<std::size_t>(std::max<std::ptrdiff_t>(live_bytes.load(), 0)); }
std::size_t buffer_bytes_peak() { return static_cast<std::size_t>(std::max<std::ptrdiff_t>(peak_bytes.load(), 0)); }
void reset_buffer_bytes_peak() { peak_bytes.store(live_bytes.load()); }

std::int64_t numel(const Shape& shape) {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

std::string shape_string(const Shape& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

}  // namespace bertscope::core
