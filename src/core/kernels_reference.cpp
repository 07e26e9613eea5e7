#include "core/kernels_reference.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace bertscope::core::reference {

void softmax_rows(float* x, std::int64_t rows, std::int64_t cols) {
  for (std::int64_t r = 0; r < rows; ++r) {
    float* row = x + r * cols;
    const float max = *std::max_element(row, row + cols);
    double sum = 0.0;
    for (std::int64_t j = 0; j < cols; ++j) sum += std::exp(static_cast<double>(row[j]) - max);
    for (std::int64_t j = 0; j < cols; ++j) row[j] = static_cast<float>(std::exp(static_cast<double>(row[j]) - max) / sum);
  }
}

void add_layer_norm(const float* a, const float* b, std::int64_t rows, std::int64_t cols, const float* gamma,
                    const float* beta, float eps, float* y) {
  std::vector<double> v(static_cast<std::size_t>(cols));
  for (std::int64_t r = 0; r < rows; ++r) {
    double sum = 0.0;
    for (std::int64_t j = 0; j < cols; ++j) {
      v[j] = static_cast<double>(a[r * cols + j]) + (b ? b[r * cols + j] : 0.0);
      sum += v[j];
    }
    const double mean = sum / static_cast<double>(cols);
    double sq = 0.0;
    for (std::int64_t j = 0; j < cols; ++j) sq += (v[j] - mean) * (v[j] - mean);
    const double inv = 1.0 / std::sqrt(sq / static_cast<double>(cols) + eps);
    for (std::int64_t j = 0; j < cols; ++j)
      y[r * cols + j] = static_cast<float>((v[j] - mean) * inv * gamma[j] + beta[j]);
  }
}

void activate(Activation act, float* x, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) {
    const double v = x[i];
    double out = v;
    switch (act) {
      case Activation::gelu_erf: out = 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0))); break;
      case Activation::gelu_tanh:
        out = 0.5 * v * (1.0 + std::tanh(std::sqrt(2.0 / 3.14159265358979323846) * (v + 0.044715 * v * v * v)));
        break;
      case Activation::relu: out = std::max(v, 0.0); break;
      case Activation::silu: out = v / (1.0 + std::exp(-v)); break;
      case Activation::gelu_quick: out = v / (1.0 + std::exp(-1.702 * v)); break;
    }
    x[i] = static_cast<float>(out);
  }
}

}  // namespace bertscope::core::reference
