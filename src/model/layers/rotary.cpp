#include "model/layers/rotary.hpp"

#include <cmath>

namespace bertscope::model::layers {

RotaryTable rotary_table(double theta, std::int64_t head_dim, std::int64_t positions) {
  RotaryTable t;
  t.half = head_dim / 2;
  const auto n = static_cast<std::size_t>(positions * t.half);
  t.cos.resize(n);
  t.sin.resize(n);
  const auto base = static_cast<float>(theta);
  for (std::int64_t i = 0; i < t.half; ++i) {
    // 1.0 / (base ** (arange(0, dim, 2).float() / dim)) in float32.
    const float exponent = static_cast<float>(2 * i) / static_cast<float>(head_dim);
    const float inv_freq = 1.0f / std::pow(base, exponent);
    for (std::int64_t p = 0; p < positions; ++p) {
      const float angle = inv_freq * static_cast<float>(p);
      t.cos[static_cast<std::size_t>(p * t.half + i)] = std::cos(angle);
      t.sin[static_cast<std::size_t>(p * t.half + i)] = std::sin(angle);
    }
  }
  return t;
}

void rotate(const RotaryTable& table, const Batch& batch, std::int64_t heads, float* x, bool inverse) {
  const auto half = table.half, d = 2 * half, width = heads * d;
  const float sign = inverse ? -1.0f : 1.0f;
#pragma omp parallel for schedule(static) if (batch.rows() * width > 16384)
  for (std::int64_t b = 0; b < batch.size(); ++b) {
    const auto row0 = batch.row(b), t = batch.length(b);
    for (std::int64_t p = 0; p < t; ++p) {
      const float* c = table.cos.data() + p * half;
      const float* s = table.sin.data() + p * half;
      float* row = x + (row0 + p) * width;
      for (std::int64_t h = 0; h < heads; ++h) {
        float* v = row + h * d;
        // q * cos + rotate_half(q) * sin, rotate_half(q) = [-q2, q1].
        for (std::int64_t i = 0; i < half; ++i) {
          const float a = v[i], b2 = v[i + half], sn = sign * s[i];
          v[i] = a * c[i] - b2 * sn;
          v[i + half] = b2 * c[i] + a * sn;
        }
      }
    }
  }
}

}  // namespace bertscope::model::layers
