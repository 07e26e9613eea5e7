#include "model/layers/dropout.hpp"

#include "core/random.hpp"

namespace bertscope::model::layers {

core::FloatBuffer Dropout::mask(std::int64_t n, double p, std::uint64_t stream, std::int64_t first) const {
  if (p <= 0) return {};
  core::FloatBuffer m(static_cast<std::size_t>(n));
  const float keep_scale = static_cast<float>(1.0 / (1.0 - p));
  const std::uint64_t base = core::mix64(seed ^ core::mix64(stream));
#pragma omp parallel for schedule(static) if (n > 65536)
  for (std::int64_t i = 0; i < n; ++i) {
    const double u = core::unit_interval(core::mix64(base + static_cast<std::uint64_t>(first + i)));
    m[static_cast<std::size_t>(i)] = u < p ? 0.0f : keep_scale;
  }
  return m;
}

void apply_dropout(float* x, const core::FloatBuffer& m) {
  for (std::size_t i = 0; i < m.size(); ++i) x[i] *= m[i];
}

}  // namespace bertscope::model::layers
